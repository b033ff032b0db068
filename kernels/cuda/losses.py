"""The losses on the GPU: ``@cuda.jit`` twins of :mod:`fastrnn.kernels.cpu.losses`.

:func:`squared_error`, :func:`softmax_cross_entropy` and :func:`binary_cross_entropy` take the CPU
functions' arguments as device arrays and return ``(loss, gradient)``: the loss as a Python float, the
gradient as a device array shaped like the predictions, in their dtype. Only the loss (with the
normalizer, two float64 values) crosses to the host, so a training step keeps its outputs and their
gradient on the device.

Each loss is three launches over the entries (the leading axes, flattened to ``m`` rows):

1. ``_*_partials``: threads stride over the entries and accumulate, in float64, the weighted loss
   terms and the weights; each block reduces its threads' sums in shared memory into one row of
   ``partial`` (``(blocks, 2)``).
2. :func:`_finish`: one block sums the partials into ``totals = (loss, normalizer)``: the weighted
   mean of the CPU version, normalized by the number of entries, or by the sum of the weights (at
   least 1) when weights are given (``_normalizer`` in ``cpu/losses.py``).
3. ``_*_gradient``: one thread per element of the gradient, scaled by ``1 / normalizer`` read from
   ``totals`` on the device.

The arithmetic is float64 for either input dtype (the gradient is rounded once, when it is stored) and
numerically stable: the softmax subtracts each row's maximum before the log-sum-exp (the row's maximum
and log-sum are kept in a float64 scratch array between launches 1 and 3), and the sigmoid's log is
``min(z, 0) - log1p(exp(-|z|))``. Only ``math`` functions are used (the simulator has no libdevice).

Weights enter exactly as on the CPU: softmax and binary cross-entropy weight each entry's loss and
gradient by ``w``; the squared error weights the *difference* by ``w`` (so its loss carries ``w**2``,
the same for 0/1 weights) and its gradient by ``w``.

Arrays must be C-contiguous (they are reshaped to the flat entries without a copy). Host arrays are
accepted too and copied to the device first. Labels outside ``[0, n_classes)`` give a NaN loss (and a
gradient without their one-hot term) instead of reading out of bounds.
"""

import math

import numpy as np
from numba import cuda

from .. import config
from ..cache import drop_stale_cache
from ..config import CUDA_JIT_OPTIONS, CUDA_LOSS_MAX_THREADS as _MAX_THREADS
from ..dispatch import is_device_array
from .launch import launch
from .transfer import upload

drop_stale_cache(__file__, [config.__file__])


# --------------------------------------------------------------------------------- device helpers

@cuda.jit(device=True, inline=True)
def _log_sigmoid(z):
    """``log(1 / (1 + exp(-z)))`` without overflow (float64)."""
    return min(z, 0.0) - math.log1p(math.exp(-abs(z)))


@cuda.jit(device=True, inline=True)
def _sigmoid(z):
    """``1 / (1 + exp(-z))`` without overflow (float64)."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@cuda.jit(device=True, inline=True)
def _block_sum_pair(buffer, a, b):
    """Sum ``a`` and ``b`` over the threads of the block (any block size up to ``_MAX_THREADS``) in
    ``buffer`` ((_MAX_THREADS, 2) shared float64); the totals end in ``buffer[0]``."""
    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    buffer[tid, 0] = a
    buffer[tid, 1] = b
    cuda.syncthreads()
    half = 1
    while half < n_threads:
        half *= 2
    half //= 2
    while half > 0:
        if tid < half and tid + half < n_threads:
            buffer[tid, 0] += buffer[tid + half, 0]
            buffer[tid, 1] += buffer[tid + half, 1]
        cuda.syncthreads()
        half //= 2


@cuda.jit(device=True, inline=True)
def _store_block_sums(buffer, loss, weight, partial):
    """Sum the threads' ``loss`` and ``weight`` over the block (:func:`_block_sum_pair`) into the
    block's row of ``partial`` ((blocks, 2))."""
    _block_sum_pair(buffer, loss, weight)
    if cuda.threadIdx.x == 0:
        partial[cuda.blockIdx.x, 0] = buffer[0, 0]
        partial[cuda.blockIdx.x, 1] = buffer[0, 1]


# ------------------------------------------------------------------------------------------ kernels

@cuda.jit(**CUDA_JIT_OPTIONS)
def _finish(partial, n_entries, has_weights, totals):
    """``totals = (sum of loss terms / normalizer, normalizer)`` from ``partial`` ((blocks, 2):
    loss terms, weights); one block."""
    buffer = cuda.shared.array((_MAX_THREADS, 2), dtype=np.float64)
    loss = 0.0
    weight = 0.0
    for i in range(cuda.threadIdx.x, partial.shape[0], cuda.blockDim.x):
        loss += partial[i, 0]
        weight += partial[i, 1]
    _block_sum_pair(buffer, loss, weight)
    if cuda.threadIdx.x == 0:
        normalizer = max(buffer[0, 1], 1.0) if has_weights else float(n_entries)
        totals[0] = buffer[0, 0] / normalizer
        totals[1] = normalizer


@cuda.jit(**CUDA_JIT_OPTIONS)
def _squared_error_partials(y_pred, y_true, weights, has_weights, partial):
    """Per block: sum of ``0.5 * sum_j (w * (y_pred - y_true))**2`` and of ``w`` over its entries.
    ``y_pred``, ``y_true``: (m, k); ``weights``: (m,) (unread without ``has_weights``)."""
    buffer = cuda.shared.array((_MAX_THREADS, 2), dtype=np.float64)
    loss = 0.0
    weight = 0.0
    for i in range(cuda.grid(1), y_pred.shape[0], cuda.gridsize(1)):
        w = float(weights[i]) if has_weights else 1.0
        row = 0.0
        for j in range(y_pred.shape[1]):
            diff = (float(y_pred[i, j]) - float(y_true[i, j])) * w
            row += diff * diff
        loss += 0.5 * row
        weight += w
    _store_block_sums(buffer, loss, weight, partial)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _squared_error_gradient(y_pred, y_true, weights, has_weights, totals, grad):
    """``grad = (y_pred - y_true) * w / normalizer``, one thread per element ((m, k) arrays)."""
    i = cuda.grid(1)
    n_out = grad.shape[1]
    if i < grad.shape[0] * n_out:
        r = i // n_out
        j = i - r * n_out
        w = float(weights[r]) if has_weights else 1.0
        grad[r, j] = (float(y_pred[r, j]) - float(y_true[r, j])) * w / totals[1]


@cuda.jit(**CUDA_JIT_OPTIONS)
def _softmax_partials(logits, labels, weights, has_weights, stats, partial):
    """Per block: sum of ``-w * log_softmax(logits)[label]`` and of ``w`` over its rows; ``stats[i]``
    keeps row i's maximum and ``log(sum(exp(logits - max)))`` for the gradient. ``logits``: (m, k);
    ``labels``, ``weights``: (m,); ``stats``: (m, 2) float64."""
    buffer = cuda.shared.array((_MAX_THREADS, 2), dtype=np.float64)
    loss = 0.0
    weight = 0.0
    n_classes = logits.shape[1]
    for i in range(cuda.grid(1), logits.shape[0], cuda.gridsize(1)):
        top = float(logits[i, 0])
        for j in range(1, n_classes):
            top = max(top, float(logits[i, j]))
        total = 0.0
        for j in range(n_classes):
            total += math.exp(float(logits[i, j]) - top)
        log_sum = math.log(total)
        stats[i, 0] = top
        stats[i, 1] = log_sum
        label = labels[i]
        picked = (float(logits[i, label]) - top) - log_sum if 0 <= label < n_classes else math.nan
        w = float(weights[i]) if has_weights else 1.0
        loss -= w * picked
        weight += w
    _store_block_sums(buffer, loss, weight, partial)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _softmax_gradient(logits, labels, weights, has_weights, stats, totals, grad):
    """``grad = (softmax(logits) - onehot(labels)) * w / normalizer``, one thread per element."""
    i = cuda.grid(1)
    n_classes = grad.shape[1]
    if i < grad.shape[0] * n_classes:
        r = i // n_classes
        j = i - r * n_classes
        value = math.exp((float(logits[r, j]) - stats[r, 0]) - stats[r, 1])
        if labels[r] == j:
            value -= 1.0
        w = float(weights[r]) if has_weights else 1.0
        grad[r, j] = value * w / totals[1]


@cuda.jit(**CUDA_JIT_OPTIONS)
def _binary_partials(z, targets, weights, has_weights, partial):
    """Per block: sum of ``-w * (t log sigmoid(z) + (1 - t) log sigmoid(-z))`` and of ``w`` over its
    entries (``z``, ``targets``, ``weights``: (m,))."""
    buffer = cuda.shared.array((_MAX_THREADS, 2), dtype=np.float64)
    loss = 0.0
    weight = 0.0
    for i in range(cuda.grid(1), z.shape[0], cuda.gridsize(1)):
        zi = float(z[i])
        t = float(targets[i])
        w = float(weights[i]) if has_weights else 1.0
        loss -= w * (t * _log_sigmoid(zi) + (1.0 - t) * _log_sigmoid(-zi))
        weight += w
    _store_block_sums(buffer, loss, weight, partial)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _binary_gradient(z, targets, weights, has_weights, totals, grad):
    """``grad = (sigmoid(z) - targets) * w / normalizer`` ((m,) arrays)."""
    i = cuda.grid(1)
    if i < grad.shape[0]:
        w = float(weights[i]) if has_weights else 1.0
        grad[i] = (_sigmoid(float(z[i])) - float(targets[i])) * w / totals[1]


# ------------------------------------------------------------------------------------------ helpers

def _threads():
    return max(1, min(config.CUDA_THREADS_PER_BLOCK, _MAX_THREADS))


def _blocks(n, threads, cap=None):
    blocks = max(1, (n + threads - 1) // threads)
    return blocks if cap is None else min(blocks, cap)


def _on_device(array, dtype=None):
    """``array`` as a C-contiguous device array (host arrays are copied; device arrays must already be
    C-contiguous, and of ``dtype`` when it is given)."""
    if is_device_array(array):
        if dtype is not None and array.dtype != np.dtype(dtype):
            raise TypeError(f"expected a device array of {np.dtype(dtype)}, got {array.dtype}")
        if not array.is_c_contiguous():
            raise ValueError("the device arrays of a loss must be C-contiguous")
        return array
    return upload(array, dtype)


def _entries(array, n_entries, what):
    """``array`` (n, ...) flattened to (m,), checked against the predictions' m entries."""
    if array.size != n_entries:
        raise ValueError(f"{what} has {array.size} entries, the predictions' leading axes {n_entries}")
    return array.reshape(n_entries)


def _prepare(predictions, weights):
    """The predictions as a (m, k) view, the weights as (m,) (a stand-in when None) and the flag."""
    predictions = _on_device(predictions)
    if predictions.ndim < 1:
        raise ValueError("the predictions need at least one axis (the outputs)")
    n_out = predictions.shape[predictions.ndim - 1]  # (the simulator's shapes take no negative index)
    n_entries = predictions.size // n_out if n_out else 0
    rows = predictions.reshape(n_entries, n_out)
    if weights is None:
        return predictions, rows, predictions.reshape(predictions.size)[:1], False  # a stand-in, unread
    return predictions, rows, _entries(_on_device(weights), n_entries, "weights"), True


def _reduce(partials_kernel, n_entries, has_weights, args):
    """Launch ``partials_kernel(*args, partial)`` and :func:`_finish`; returns the (2,) device totals."""
    threads = _threads()
    blocks = _blocks(n_entries, threads, config.CUDA_LOSS_MAX_BLOCKS)
    partial = cuda.device_array((blocks, 2), dtype=np.float64)
    launch(partials_kernel, blocks, threads)(*args, partial)
    totals = cuda.device_array(2, dtype=np.float64)
    launch(_finish, 1, threads)(partial, n_entries, has_weights, totals)
    return totals


# ---------------------------------------------------------------------------------------- the losses

def squared_error(y_pred, y_true, weights=None):
    """Half mean squared error ``0.5 * mean((y_pred - y_true)**2)`` and its gradient, on the device.

    The twin of :func:`fastrnn.kernels.cpu.losses.squared_error` (weights scale the difference, as
    there).

    Parameters
    ----------
    y_pred : (n, ..., n_outputs) device array
        Predictions (float32 or float64).
    y_true : (n, ..., n_outputs) device array
        Targets, of the same shape.
    weights : (n, ...) device array, optional
        Per-entry weights over the leading axes (0 excludes an entry).

    Returns
    -------
    loss : float
        Summed over outputs, averaged over entries.
    d_pred : (n, ..., n_outputs) device array
        Gradient of ``loss`` with respect to ``y_pred``, in ``y_pred``'s dtype.
    """
    y_pred, rows, flat_weights, has_weights = _prepare(y_pred, weights)
    y_true = _on_device(y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape}, y_pred {y_pred.shape}")
    truth = y_true.reshape(rows.shape)
    grad = cuda.device_array(y_pred.shape, dtype=y_pred.dtype)                    # (n, ..., n_outputs)
    totals = _reduce(_squared_error_partials, rows.shape[0], has_weights,
                     (rows, truth, flat_weights, has_weights))
    if grad.size:
        threads = _threads()
        launch(_squared_error_gradient, _blocks(grad.size, threads), threads)(
            rows, truth, flat_weights, has_weights, totals, grad.reshape(rows.shape))
    return float(totals.copy_to_host()[0]), grad


def softmax_cross_entropy(logits, labels, weights=None):
    """Mean cross-entropy of a softmax over the last axis against integer labels, on the device.

    The twin of :func:`fastrnn.kernels.cpu.losses.softmax_cross_entropy`.

    Parameters
    ----------
    logits : (n, ..., n_classes) device array
        Raw scores (float32 or float64).
    labels : (n, ...) int64 device array
        Class indices in ``[0, n_classes)`` (another one makes the loss NaN).
    weights : (n, ...) device array, optional
        Per-entry weights (0 excludes an entry).

    Returns
    -------
    loss : float
    d_logits : (n, ..., n_classes) device array
        ``(softmax(logits) - onehot(labels)) * weights / n``, in the logits' dtype.
    """
    logits, rows, flat_weights, has_weights = _prepare(logits, weights)
    n_entries = rows.shape[0]
    flat_labels = _entries(_on_device(labels, np.int64), n_entries, "labels")    # (m,)
    grad = cuda.device_array(logits.shape, dtype=logits.dtype)                   # (n, ..., n_classes)
    stats = cuda.device_array((n_entries, 2), dtype=np.float64)                  # (m, 2): max, log-sum
    totals = _reduce(_softmax_partials, n_entries, has_weights,
                     (rows, flat_labels, flat_weights, has_weights, stats))
    if grad.size:
        threads = _threads()
        launch(_softmax_gradient, _blocks(grad.size, threads), threads)(
            rows, flat_labels, flat_weights, has_weights, stats, totals, grad.reshape(rows.shape))
    return float(totals.copy_to_host()[0]), grad


def binary_cross_entropy(logits, targets, weights=None):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 0/1 targets, on the device.

    The twin of :func:`fastrnn.kernels.cpu.losses.binary_cross_entropy`.

    Parameters
    ----------
    logits : (n, ..., 1) device array
        Raw scores of the positive class (float32 or float64).
    targets : (n, ...) float device array of 0 and 1
    weights : (n, ...) device array, optional
        Per-entry weights (0 excludes an entry).

    Returns
    -------
    loss : float
    d_logits : (n, ..., 1) device array
        ``(sigmoid(logits) - targets) * weights / n``, in the logits' dtype.
    """
    logits, rows, flat_weights, has_weights = _prepare(logits, weights)
    if rows.shape[1] != 1:
        raise ValueError(f"binary cross-entropy needs one logit per entry, got {rows.shape[1]}")
    n_entries = rows.shape[0]
    z = logits.reshape(n_entries)                                                 # (m,)
    flat_targets = _entries(_on_device(targets), n_entries, "targets")           # (m,)
    grad = cuda.device_array(logits.shape, dtype=logits.dtype)                   # (n, ..., 1)
    totals = _reduce(_binary_partials, n_entries, has_weights, (z, flat_targets, flat_weights, has_weights))
    if grad.size:
        threads = _threads()
        launch(_binary_gradient, _blocks(n_entries, threads), threads)(
            z, flat_targets, flat_weights, has_weights, totals, grad.reshape(n_entries))
    return float(totals.copy_to_host()[0]), grad
