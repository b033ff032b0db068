"""fastrnn: recurrent neural networks (Elman RNN, LSTM) with Numba-compiled forward and BPTT kernels.

Public layer API: :class:`RNN` and :class:`LSTM` (PyTorch-compatible parameter names and shapes,
``forward`` / ``backward``). Kernels live in :mod:`fastrnn.kernels`.
"""

from .layers import LSTM, RNN, Linear

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "Linear", "__version__"]
