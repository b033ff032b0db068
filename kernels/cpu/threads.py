"""One layer's work on several cores: each core runs its own rows.

The sequences of a batch are independent, so the forward and backward passes run on disjoint row
ranges of the batch at the same time, each thread its own small per-step products, one dispatch per
pass: the backward pass's weight gradients are taken chunk by chunk inside each thread's loop, into
the thread's own arrays, summed at the end.

While fastrnn runs its own threads, BLAS (scipy's OpenBLAS, which Numba's ``np.dot`` calls) is held
to one thread (:mod:`fastrnn.kernels.cpu.blas_threads`): an idle OpenBLAS worker left spinning by a
two-thread product would take a core from fastrnn's threads.

Why threads of the caller and not Numba's ``prange``: under ``parallel=True`` OpenBLAS's worker
threads and Numba's compete for the cores (measured on the 2-core development machine: a forward
pass 3x slower, even with one chunk). The kernels release the GIL (``nogil=True``), so plain Python
threads run them in parallel: those of :mod:`.team`, which wait for the next pass by spinning
briefly instead of sleeping, so that handing out a share costs microseconds.

Inside a task of a Dask worker, a pass runs in one thread unless :func:`limited_threads` says
otherwise: Dask runs one task per worker thread and starts its worker processes with OpenBLAS,
MKL and OpenMP at one thread each, so a task that split its work over every core would compete
with the other tasks of its machine.

Where it applies: batches of at least ``2 * MIN_ROWS_PER_THREAD`` sequences and passes of at least
``MIN_SPLIT_WORK`` (:func:`pass_work`; both in :mod:`fastrnn.kernels.config`), and only where scipy's
OpenBLAS can be held to one thread; otherwise one thread runs the loops and BLAS uses its own threads.
A split costs the handoff (tens of microseconds when a worker has gone to sleep) and the cores
slowing each other, so it only pays beyond about half a millisecond of work (measured on the 2-core
development machine: an LSTM layer's forward pass at batch 8, T=20, hidden 32 0.05 ms in one thread
and 0.14 ms split, level at batch 8, T=100, hidden 64, the split ahead at batch 32, T=50, hidden 64).
"""

import sys
import threading
from contextlib import contextmanager

import numba
import numpy as np

from ..config import MIN_ROWS_PER_THREAD, MIN_SPLIT_WORK, POINTWISE_MULTIPLY_ADDS
from . import recurrent
from .blas_threads import blas_threads
from .recurrent import backward_operands, backward_steps, forward_operands, forward_steps, inference_operands
from .team import run_here, team

_limit = threading.local()  # .threads: the count of the innermost limited_threads block of this thread


def n_threads():
    """Threads for one layer: Numba's thread count (``NUMBA_NUM_THREADS``, all cores by default); in a
    task of a Dask worker (:func:`in_dask_task`) one; within :func:`limited_threads`, its count
    (never more than Numba's)."""
    most = max(1, int(numba.config.NUMBA_NUM_THREADS))
    limit = getattr(_limit, "threads", None)
    if limit is None:
        return 1 if in_dask_task() else most
    return min(most, limit)


def in_dask_task():
    """Whether this thread runs a task (or an actor's method) of a Dask worker."""
    distributed = sys.modules.get("distributed")
    if distributed is None:  # fastrnn never imports Dask itself
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


@contextmanager
def limited_threads(n):
    """Within the block, the calls of this thread split a pass over at most ``n`` threads (blocks nest;
    the innermost counts). Data-parallel training gives each Dask worker's replica the worker's threads."""
    if int(n) < 1:
        raise ValueError(f"limited_threads needs at least one thread, got {n}.")
    previous = getattr(_limit, "threads", None)
    _limit.threads = int(n)
    try:
        yield
    finally:
        _limit.threads = previous


def pass_work(x_shape, w_hh_shape):
    """Work of one pass over a layer, in multiply-adds: the input and recurrent products of every
    step and row, plus the pointwise steps. ``x_shape: (T, B, D)``, ``w_hh_shape: (G*H, H)``."""
    n_steps, n_batch, n_in = x_shape
    n_gate_units, hidden = w_hh_shape
    return n_steps * n_batch * n_gate_units * (n_in + hidden + POINTWISE_MULTIPLY_ADDS)


def split_threads(n_batch, work):
    """How many threads split a batch of ``n_batch`` sequences in a pass of ``work`` multiply-adds
    (:func:`pass_work`); 1: no split, BLAS keeps its threads."""
    threads = n_batch // MIN_ROWS_PER_THREAD
    if threads <= 1 or work < MIN_SPLIT_WORK or blas_threads() is None:
        return 1
    return min(threads, n_threads())


def batch_ranges(n_active, n_batch, threads):
    """``threads`` contiguous ranges ``[(start, stop), ...]`` of batch rows covering ``0..n_batch``.

    With variable lengths (``n_active: (T,)`` non-increasing, the longest sequences first), the cuts
    balance the (row, step) pairs each thread runs, not the rows.
    """
    if threads <= 1:
        return [(0, n_batch)]
    if len(n_active) == 0 or n_active[-1] == n_batch:  # equal lengths: equal cuts, without the sorts below
        return _ranges([n_batch * k // threads for k in range(threads + 1)])
    counts = np.sort(np.asarray(n_active))
    steps = counts.size - np.searchsorted(counts, np.arange(n_batch), side="right")  # steps row b runs
    work = np.cumsum(steps)
    cuts = np.searchsorted(work, work[-1] * np.arange(1, threads) / threads, side="left") + 1
    return _ranges([0] + [int(c) for c in cuts] + [n_batch])


def _ranges(bounds):
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def layer_forward(kind, x, weights, buffers, n_active):
    """:func:`fastrnn.kernels.cpu.recurrent.layer_forward` (same arguments and results, for training
    or, with one step of ``saved`` and ``gx``, inference), the batch rows split over the cores where
    :func:`split_threads` allows."""
    n_batch = x.shape[1]
    threads = split_threads(n_batch, pass_work(x.shape, weights.w_hh.shape))
    if threads == 1:  # all rows in this thread; BLAS keeps its own threads
        recurrent.layer_forward(kind, x, weights, buffers, n_active)
        return
    prepare = forward_operands if buffers.for_backward else inference_operands  # inference: cached operands
    w_ih_slabs, bias, w_hh_slabs, block_rows = prepare(kind, weights, n_batch // threads)
    h, c, saved, gx, gh = buffers
    with blas_threads().limited_to(1):
        run_in_threads([(forward_steps, (kind, x, w_ih_slabs, bias, w_hh_slabs, weights.b_hh, h, c, saved, gx, gh,
                                         n_active, start, stop, block_rows))
                        for start, stop in batch_ranges(n_active, n_batch, threads)])


def layer_backward(kind, x, weights, forward, d_out, backward, grads, n_active):
    """:func:`fastrnn.kernels.cpu.recurrent.layer_backward` (same arguments and results), split like
    :func:`layer_forward`; each thread's weight gradients go to its own arrays, summed at the end."""
    n_batch = x.shape[1]
    threads = split_threads(n_batch, pass_work(x.shape, weights.w_hh.shape))
    if threads == 1:
        recurrent.layer_backward(kind, x, weights, forward, d_out, backward, grads, n_active)
        return
    w_hh_slabs, block_rows, min_chunk_rows = backward_operands(weights.w_hh, n_batch // threads)
    ranges = batch_ranges(n_active, n_batch, threads)
    totals = tuple(grads)
    parts = [totals] + [tuple(np.empty_like(a) for a in totals) for _ in ranges[1:]]
    h, c, saved, _, _ = forward
    dh, dc, d_gates, d_gates_x, dx = backward
    with blas_threads().limited_to(1):
        run_in_threads([(backward_steps, (kind, x, weights.w_ih, w_hh_slabs, h, c, saved, d_out, dh, dc, d_gates,
                                          d_gates_x, dx, *part, n_active, start, stop, block_rows, min_chunk_rows))
                        for part, (start, stop) in zip(parts, ranges)])
    for part in parts[1:]:
        for total, partial in zip(totals, part):
            total += partial


def run_in_threads(calls):
    """Run ``function(*args, started)`` for every ``(function, args)`` of ``calls``: the first in this
    thread, the others in the worker threads of :mod:`.team`; return when all are done (re-raising
    the first error). ``started``: a (1,) int64 counter the function counts up as its work begins
    (the time loops do; see :meth:`.team.Team.run`)."""
    if len(calls) == 1:
        run_here(calls)
        return
    team(len(calls) - 1).run(calls)
