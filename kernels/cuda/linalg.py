"""Dense linear algebra on the GPU: a tiled shared-memory matrix product and a column sum.

numba-cuda has no cuBLAS binding, so the products of the recurrent layers (input projection of all
steps, weight gradients after the loop, the per-step recurrent product of the large-H path) run in
:func:`matmul`, a classic tiled kernel: each block computes a ``CUDA_TILE x CUDA_TILE`` tile of the
output, staging tiles of both operands in shared memory. Transposed operands are read through index
flags, never copied.
"""

import functools

from numba import cuda

from .. import config
from ..cache import drop_stale_cache
from ..config import CUDA_JIT_OPTIONS, CUDA_TILE
from .launch import launch

drop_stale_cache(__file__, [config.__file__])


@cuda.jit(**CUDA_JIT_OPTIONS)
def _matmul_kernel(a, b, out, trans_a, trans_b, bias1, bias2, n_bias, accumulate, zero, a_first, n_rows):
    """out[m, n] (+)= sum_k op(a)[a_first + m, k] op(b)[k, n] + bias1[n] (+ bias2[n]) for m < n_rows;
    ``zero`` is 0 in out's dtype (float32 products accumulate in float32)."""
    tile_a = cuda.shared.array((CUDA_TILE, CUDA_TILE), dtype=out.dtype)
    tile_b = cuda.shared.array((CUDA_TILE, CUDA_TILE), dtype=out.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * CUDA_TILE + ty
    col = cuda.blockIdx.x * CUDA_TILE + tx
    n_cols = out.shape[1]
    depth = a.shape[0] if trans_a else a.shape[1]
    acc = zero
    for k0 in range(0, depth, CUDA_TILE):
        ka = k0 + tx
        if row < n_rows and ka < depth:
            tile_a[ty, tx] = a[ka, a_first + row] if trans_a else a[a_first + row, ka]
        else:
            tile_a[ty, tx] = 0.0
        kb = k0 + ty
        if kb < depth and col < n_cols:
            tile_b[ty, tx] = b[col, kb] if trans_b else b[kb, col]
        else:
            tile_b[ty, tx] = 0.0
        cuda.syncthreads()
        for kk in range(CUDA_TILE):
            acc += tile_a[ty, kk] * tile_b[kk, tx]
        cuda.syncthreads()
    if row < n_rows and col < n_cols:
        if n_bias >= 1:
            acc += bias1[col]
        if n_bias == 2:
            acc += bias2[col]
        if accumulate:
            acc += out[row, col]
        out[row, col] = acc


@functools.lru_cache(maxsize=None)
def _no_bias(dtype):
    """A zero-length device array standing in for an absent bias, never read (made once: a view of
    ``out`` would cost a device-array slice per product)."""
    return cuda.device_array(0, dtype=dtype)


def matmul(a, b, out, trans_a=False, trans_b=False, bias1=None, bias2=None, accumulate=False, a_first=0,
           n_rows=None):
    """``out = op(a) @ op(b) [+ bias1 [+ bias2]] [+ out]`` on device arrays.

    Parameters
    ----------
    a : (M, K) device array, or (K, M) with ``trans_a``
    b : (K, N) device array, or (N, K) with ``trans_b``
    out : (M, N) device array
        Written (or added to, with ``accumulate``).
    bias1, bias2 : (N,) device arrays, optional
        Added to every row.
    a_first, n_rows : int, optional
        Use rows ``a_first .. a_first + n_rows`` of ``op(a)`` and write rows ``0 .. n_rows`` of
        ``out`` (default: all rows of ``out``), so that a time loop passes whole arrays and a step's
        offset rather than a view per step.
    """
    n_rows = out.shape[0] if n_rows is None else n_rows
    # a kernel does not check its bounds: a wrong offset would read or write memory silently
    if n_rows > out.shape[0]:
        raise ValueError(f"n_rows={n_rows} exceeds out's {out.shape[0]} rows")
    a_rows = a.shape[1] if trans_a else a.shape[0]
    if a_first + n_rows > a_rows:
        raise ValueError(f"a_first={a_first} + n_rows={n_rows} exceeds op(a)'s {a_rows} rows")
    n_cols = out.shape[1]
    n_bias = 0 if bias1 is None else (1 if bias2 is None else 2)
    empty = _no_bias(out.dtype) if bias1 is None else bias1
    grid = ((n_cols + CUDA_TILE - 1) // CUDA_TILE, (n_rows + CUDA_TILE - 1) // CUDA_TILE)
    launch(_matmul_kernel, grid, (CUDA_TILE, CUDA_TILE))(a, b, out, trans_a, trans_b, empty,
                                                         empty if bias2 is None else bias2, n_bias, accumulate,
                                                         out.dtype.type(0), a_first, n_rows)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _column_sum_kernel(a, out, zero):
    col = cuda.grid(1)
    if col < out.shape[0]:
        acc = zero
        for row in range(a.shape[0]):
            acc += a[row, col]
        out[col] = acc


def column_sum(a, out):
    """``out[n] = sum_m a[m, n]`` on device arrays (bias gradients): a thread per column."""
    threads = config.CUDA_COLUMN_SUM_THREADS
    blocks = (out.shape[0] + threads - 1) // threads
    launch(_column_sum_kernel, blocks, threads)(a, out, out.dtype.type(0))
