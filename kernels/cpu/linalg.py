"""Matrix products of the heads and helpers, through the same BLAS as the layer kernels.

numpy's ``np.dot`` runs on numpy's bundled OpenBLAS, Numba's on scipy's; each has its own thread pool,
and the two pools spinning on the same cores slow each other down (measured on the 2-core development
machine: the output head's (1600 x 128) @ (128 x 96) product took 4.3 ms through numpy between kernel
calls, against ~0.3 ms expected, and the layer kernels after it slowed too). Every product of the CPU
training loop therefore goes through Numba, so only scipy's pool is ever awake.
"""

import numpy as np
from numba import njit

from .. import config
from ..cache import drop_stale_cache
from ..config import JIT_OPTIONS

drop_stale_cache(__file__, [config.__file__])  # the jit options live there


@njit(**JIT_OPTIONS)
def matmul(a, b, out, trans_a, trans_b):
    """``out = op(a) @ op(b)`` with ``op`` a transpose where asked; 2-D contiguous arrays.

    Parameters
    ----------
    a : (m, k) or, with ``trans_a``, (k, m) array
    b : (k, n) or, with ``trans_b``, (n, k) array
    out : (m, n) array
        Written.
    trans_a, trans_b : bool
    """
    if trans_a and trans_b:
        np.dot(a.T, b.T, out)
    elif trans_a:
        np.dot(a.T, b, out)
    elif trans_b:
        np.dot(a, b.T, out)
    else:
        np.dot(a, b, out)
