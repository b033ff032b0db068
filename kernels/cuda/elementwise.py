"""Element-wise and reduction kernels that keep training on the GPU: filling, gathering a mini-batch,
the gradient norm, clipping, weight decay and the optimizer updates (SGD, Adam, Adagrad), all on flat
device buffers, so that weights, gradients and optimizer state never leave the device in an epoch."""

import numpy as np
from numba import cuda

from .. import config, updates
from ..cache import drop_stale_cache
from ..config import CUDA_JIT_OPTIONS, CUDA_REDUCE_THREADS
from ..updates import adagrad_update, adam_scalars, adam_update, sgd_update
from .launch import launch

drop_stale_cache(__file__, [config.__file__, updates.__file__])


def _blocks(n, threads):
    return max(1, (n + threads - 1) // threads)


def _launch(n):
    """``(blocks, threads)`` of an element-wise kernel over ``n`` items (``config`` read at call time)."""
    threads = config.CUDA_ELEMENTWISE_THREADS
    return _blocks(n, threads), threads


@cuda.jit(**CUDA_JIT_OPTIONS)
def _fill_kernel(flat, value):
    i = cuda.grid(1)
    if i < flat.size:
        flat[i] = value


def fill(array, value):
    """Set every element of a contiguous device array to ``value``."""
    flat = array.reshape(array.size)
    if flat.size:
        launch(_fill_kernel, *_launch(flat.size))(flat, array.dtype.type(value))


@cuda.jit(**CUDA_JIT_OPTIONS)
def _gather_kernel(x, index, out):
    i = cuda.grid(1)
    n_steps, n_chosen, n_features = out.shape
    if i < n_steps * n_chosen * n_features:
        t = i // (n_chosen * n_features)
        rest = i - t * n_chosen * n_features
        b = rest // n_features
        out[t, b, rest - b * n_features] = x[t, index[b], rest - b * n_features]


def gather_batch(x, index, out):
    """``out[t, b] = x[t, index[b]]`` for time-major device arrays x (T, N, D), out (T, B, D)."""
    if out.size:
        launch(_gather_kernel, *_launch(out.size))(x, index, out)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _gather_steps_kernel(src, index, dst, src_start, dst_start, width, accumulate):
    i = cuda.grid(1)
    n_steps, n_batch = index.shape
    if i < n_steps * n_batch * width:
        tb = i // width
        j = i - tb * width
        t = tb // n_batch
        b = tb - t * n_batch
        value = src[index[t, b], b, src_start + j]
        if accumulate:
            dst[t, b, dst_start + j] += value
        else:
            dst[t, b, dst_start + j] = value


def gather_steps(src, index, dst, src_start, dst_start, width, accumulate):
    """``dst[t, b, dst_start:+width] (+)= src[index[t, b], b, src_start:+width]`` (device arrays;
    index (T, B) int64): time reversal of each sequence and placing one direction's features."""
    n = index.shape[0] * index.shape[1] * width
    if n:
        launch(_gather_steps_kernel, *_launch(n))(src, index, dst, src_start, dst_start, width, accumulate)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _partial_sum_squares(flat, partial):
    shared = cuda.shared.array(CUDA_REDUCE_THREADS, dtype=partial.dtype)
    tid = cuda.threadIdx.x
    acc = 0.0
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        acc += float(flat[i]) * float(flat[i])
    shared[tid] = acc
    cuda.syncthreads()
    step = CUDA_REDUCE_THREADS // 2
    while step > 0:
        if tid < step:
            shared[tid] += shared[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        partial[cuda.blockIdx.x] = shared[0]


def sum_squares(flat, max_blocks=None):
    """Sum of squares of a 1-D device array, accumulated in float64; returns a Python float.
    ``max_blocks``: default ``config.CUDA_REDUCE_MAX_BLOCKS``."""
    max_blocks = config.CUDA_REDUCE_MAX_BLOCKS if max_blocks is None else max_blocks
    blocks = min(max_blocks, _blocks(flat.size, CUDA_REDUCE_THREADS))
    partial = cuda.device_array(blocks, dtype=np.float64)
    launch(_partial_sum_squares, blocks, CUDA_REDUCE_THREADS)(flat, partial)
    return float(partial.copy_to_host().sum())


@cuda.jit(**CUDA_JIT_OPTIONS)
def _scale_kernel(flat, factor):
    i = cuda.grid(1)
    if i < flat.size:
        flat[i] *= factor


def scale(flat, factor):
    """``flat *= factor`` in place."""
    launch(_scale_kernel, *_launch(flat.size))(flat, flat.dtype.type(factor))


@cuda.jit(**CUDA_JIT_OPTIONS)
def _masked_axpy_kernel(y, x, mask, a):
    i = cuda.grid(1)
    if i < y.size and mask[i]:
        y[i] += a * x[i]


def masked_axpy(y, x, mask, a):
    """``y[mask] += a * x[mask]`` (weight decay on the weight matrices only)."""
    launch(_masked_axpy_kernel, *_launch(y.size))(y, x, mask, y.dtype.type(a))


@cuda.jit(**CUDA_JIT_OPTIONS)
def _sgd_kernel(param, grad, velocity, learning_rate, momentum, nesterov):
    i = cuda.grid(1)
    if i < param.size:
        param[i], velocity[i] = sgd_update(param[i], grad[i], velocity[i], learning_rate, momentum, nesterov)


def sgd_step(param, grad, velocity, learning_rate, momentum, nesterov):
    """SGD with (Nesterov) momentum, the same update as :class:`fastrnn.optimizers.SGD`."""
    t = param.dtype.type
    launch(_sgd_kernel, *_launch(param.size))(param, grad, velocity, t(learning_rate), t(momentum), nesterov)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _adam_kernel(param, grad, m, v, scalars):
    step_size, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, correction_2, epsilon = scalars
    i = cuda.grid(1)
    if i < param.size:
        param[i], m[i], v[i] = adam_update(param[i], grad[i], m[i], v[i], step_size, beta_1, one_minus_beta_1,
                                           beta_2, one_minus_beta_2, correction_2, epsilon)


def adam_step(param, grad, m, v, learning_rate, beta_1, beta_2, epsilon, t):
    """Adam step ``t`` (1-based), PyTorch's form, the same update as :class:`fastrnn.optimizers.Adam`."""
    launch(_adam_kernel, *_launch(param.size))(param, grad, m, v,
                                                adam_scalars(param.dtype, learning_rate, beta_1, beta_2, epsilon, t))


@cuda.jit(**CUDA_JIT_OPTIONS)
def _adagrad_kernel(param, grad, sums, learning_rate, epsilon):
    i = cuda.grid(1)
    if i < param.size:
        param[i], sums[i] = adagrad_update(param[i], grad[i], sums[i], learning_rate, epsilon)


def adagrad_step(param, grad, sums, learning_rate, epsilon):
    """Adagrad step, the same update as :class:`fastrnn.optimizers.Adagrad`."""
    k = param.dtype.type
    launch(_adagrad_kernel, *_launch(param.size))(param, grad, sums, k(learning_rate), k(epsilon))
