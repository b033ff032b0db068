"""``@cuda.jit`` GPU kernels with the same contract as the CPU kernels (numba-cuda device arrays).

Importing this package needs numba-cuda (``pip install "fastrnn[cuda]"``); it runs on a GPU, or in
the CUDA simulator when ``NUMBA_ENABLE_CUDASIM=1`` is set before numba is imported.
"""

from .linalg import column_sum, matmul
from .recurrent import choose_path, layer_backward, layer_forward

__all__ = ["layer_forward", "layer_backward", "choose_path", "matmul", "column_sum"]
