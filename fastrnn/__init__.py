"""fastrnn: recurrent neural networks (Elman RNN, LSTM, GRU) with Numba-compiled forward and BPTT kernels.

Estimators (scikit-learn API): :class:`RNNRegressor`, :class:`RNNClassifier`; text generation:
:class:`CharRNN`; sequence to sequence: :class:`Seq2Seq`. Layers:
:class:`RNN`, :class:`LSTM`, :class:`GRU` (PyTorch-compatible parameter names and shapes, ``forward`` /
``backward``), :class:`Linear`. Data helpers in :mod:`fastrnn.data`, shipped series in
:mod:`fastrnn.datasets`. Saving: ``model.save(path)`` and :func:`load`; export: ``to_torch()`` and
:mod:`fastrnn.onnx`; :func:`check_gradients` compares BPTT with finite differences. Kernels live in
:mod:`fastrnn.kernels`.
"""

from . import data, datasets
from .estimators import CharRNN, RNNClassifier, RNNRegressor, Seq2Seq
from .layers import GRU, LSTM, RNN, Linear
from ._persistence import load
from .gradient_check import check_gradients

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "Linear", "RNNRegressor", "RNNClassifier", "CharRNN", "Seq2Seq", "load",
           "check_gradients", "data", "datasets", "__version__"]
