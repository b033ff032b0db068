"""Vector reductions of the training loop, compiled without BLAS.

numpy and scipy each bundle an OpenBLAS with its own thread pool. The layer kernels' products go
through scipy's; a large ``np.dot`` on a numpy array (a gradient's squared norm) wakes numpy's pool,
whose threads then spin on the same cores as scipy's. Measured here, on 2 cores, that made a training
epoch 2-3x slower. Plain compiled loops avoid the second pool.
"""

from numba import njit

from ..config import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def sum_squares(flat):
    """Sum of squares of a 1-D array, accumulated in float64."""
    total = 0.0
    for value in flat:
        total += float(value) * float(value)
    return total
