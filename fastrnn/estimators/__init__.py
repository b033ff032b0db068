"""scikit-learn-style estimators over the recurrent layers."""

from ._char_rnn import CharRNN
from ._classifier import RNNClassifier
from ._regressor import RNNRegressor
from ._seq2seq import Seq2Seq

__all__ = ["RNNRegressor", "RNNClassifier", "CharRNN", "Seq2Seq"]
