"""scikit-learn-style estimators over the recurrent layers."""

from ._classifier import RNNClassifier
from ._regressor import RNNRegressor

__all__ = ["RNNRegressor", "RNNClassifier"]
