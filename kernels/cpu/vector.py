"""1-D vector operations of the CPU kernels and the training loop, written as plain compiled loops.

- Reductions without BLAS: numpy and scipy each bundle an OpenBLAS with its own thread pool. The layer
  kernels' products go through scipy's; a large ``np.dot`` on a numpy array (a gradient's squared
  norm) would wake numpy's pool, whose threads then spin on the same cores as scipy's (measured on
  the 2-core development machine: a training epoch 2-3x slower).
- Row updates as loops called from the time loops, not numba's array expressions on views, which
  cost more than the loops they stand for (``row += values`` on 1-D views: 2.0 against 0.2 us for
  8 x 512 bias adds, measured on the 2-core development machine); and every array-to-array slice
  assignment (``a[i] = b[j]``) compiles numba's shape-mismatch error path, whose message formatting
  adds seconds to each cold compilation. They are compiled on their own, not inlined by Numba, which
  would copy and type them again at each of their call sites; LLVM inlines them when it links a
  loop, so the machine code is the same (a new environment's first LSTM fit: ~0.5 s less to compile,
  results bit for bit the same, measured on the 2-core development machine).
"""

import numpy as np
from numba import njit

from .. import config
from ..cache import drop_stale_cache
from ..config import JIT_OPTIONS

drop_stale_cache(__file__, [config.__file__])  # the jit options live there


@njit(**JIT_OPTIONS)
def sum_squares(flat):
    """Sum of squares of a 1-D array, accumulated in float64."""
    total = 0.0
    for value in flat:
        total += float(value) * float(value)
    return total


@njit(**JIT_OPTIONS)
def add_to(row, values):
    """``row += values`` for 1-D arrays of the same length."""
    for j in range(row.shape[0]):
        row[j] += values[j]


@njit(**JIT_OPTIONS)
def copy_into(row, values):
    """``row[:] = values`` for 1-D arrays of the same length."""
    for j in range(row.shape[0]):
        row[j] = values[j]


@njit(**JIT_OPTIONS)
def count_non_finite_32(values):
    """How many of the 1-D C-contiguous float32 ``values`` are NaN or infinite: those whose exponent
    bits are all ones (read as integers, so no floating-point flag can change the answer)."""
    words = values.view(np.uint32)
    exponent = np.uint32(0x7f800000)
    count = 0
    for i in range(words.size):  # no early exit: the loop vectorizes
        count += (words[i] & exponent) == exponent
    return count


@njit(**JIT_OPTIONS)
def count_non_finite_64(values):
    """:func:`count_non_finite_32` for float64 ``values``."""
    words = values.view(np.uint64)
    exponent = np.uint64(0x7ff0000000000000)
    count = 0
    for i in range(words.size):
        count += (words[i] & exponent) == exponent
    return count
