"""One time step of the cell chosen by its integer code: the only place that branches on the cell.

- :func:`unit_forward`, :func:`unit_backward`: unit ``j`` of one sequence (the GPU kernels run one
  per thread), by each cell's unit form;
- :func:`forward_step`, :func:`backward_step`: every unit of a batch of rows (the CPU time loops),
  by each cell's row form.

Both forms compute each cell's scalar equations; ``tests/test_cells.py`` checks that they agree.
"""

import types

import numpy as np
from numba import njit

from .. import config
from ..cache import drop_stale_cache, package_files
from ..config import INLINE_OPTIONS
from . import elman, gru, lstm
from .codes import GRU, LSTM

drop_stale_cache(__file__, [*package_files(__file__), config.__file__])


@njit(**INLINE_OPTIONS)
def unit_forward(kind, gx, gh, h_prev, c_prev, h_out, c_out, saved, hidden, j):
    """Forward of unit ``j``: pre-activations ``gx + gh``; writes h_t[j] (and c_t[j], saved) and
    returns h_t[j]. float64 arrays use the library tanh and exp, float32 arrays the fast tanh.

    Rows: ``gx``, ``gh``: (G*H,); ``saved``: (N_SAVED*H,); the others (H,) or (0,).
    """
    exact = h_out.itemsize == 8
    if kind == GRU:
        return gru.unit_forward(gx, gh, h_prev, h_out, saved, hidden, j, exact)
    if kind == LSTM:
        return lstm.unit_forward(gx, gh, c_prev, h_out, c_out, saved, hidden, j, exact)
    return elman.unit_forward(kind, gx, gh, h_out, j, exact)


@njit(**INLINE_OPTIONS)
def unit_backward(kind, d_out, dh, dc, h_prev, c_prev, h, saved, d_gates, d_gates_x, hidden, j):
    """Backward of unit ``j``: dL/dh_t[j] = d_out[j] + dh[j]; writes the pre-activation gradients of
    the unit into ``d_gates`` (and, GRU only, ``d_gates_x``). LSTM: replaces dc[j] (dL/dc_t) by
    dL/dc_{t-1}. GRU: writes dc[j], the direct part of dL/dh_{t-1}[j]."""
    dht = d_out[j] + dh[j]
    if kind == GRU:
        gru.unit_backward(dht, dc, h_prev, saved, d_gates, d_gates_x, hidden, j)
    elif kind == LSTM:
        lstm.unit_backward(dht, dc, c_prev, saved, d_gates, hidden, j)
    else:
        elman.unit_backward(kind, dht, h, d_gates, j)


@njit(**INLINE_OPTIONS)
def forward_step(kind, gx, gh, h_prev, c_prev, h_out, c_out, saved):
    """Pointwise part of one forward time step for a batch.

    Parameters
    ----------
    kind : int
        Cell code.
    gx : (B, G*H) array
        The input projection with its bias for this step (:func:`.gru.recurrent_bias_block`).
    gh : (B, G*H) array
        ``W_hh h_{t-1}`` for this step (GRU: plus ``b_hn`` in the n block).
    h_prev : (B, H) array
        Previous hidden state (read by the GRU).
    c_prev : (B, H) or (B, 0) array
        Previous cell state (LSTM only).
    h_out : (B, H) array
        Written: the new hidden state ``h_t``.
    c_out : (B, H) or (B, 0) array
        Written: the new cell state ``c_t`` (LSTM only).
    saved : (B, N_SAVED*H) array
        Written: activations the backward step needs.
    """
    exact = np.finfo(h_out.dtype).bits == 64  # a compile-time constant (itemsize is read at run time)
    for b in range(h_out.shape[0]):
        if kind == LSTM:
            lstm.forward_row(gx[b], gh[b], c_prev[b], h_out[b], c_out[b], saved[b], exact)
        elif kind == GRU:
            gru.forward_row(gx[b], gh[b], h_prev[b], h_out[b], saved[b], exact)
        else:
            elman.forward_row(kind, gx[b], gh[b], h_out[b], exact)


@njit(**INLINE_OPTIONS)
def backward_step(kind, d_out, dh, dc, h_prev, c_prev, h, saved, d_gates, d_gates_x):
    """Pointwise part of one backward time step for a batch.

    Parameters
    ----------
    kind : int
        Cell code.
    d_out : (B, H) array
        dL/dh_t coming from outside the recurrence (the loss, or the layer above).
    dh : (B, H) array
        dL/dh_t coming through the recurrence from step t+1 (read only here).
    dc : (B, H) or (B, 0) array
        LSTM: on entry dL/dc_t from step t+1; on exit dL/dc_{t-1}. GRU: written, the direct part
        ``dL/dh_t * z`` of dL/dh_{t-1}, which the caller adds after the recurrent product.
    h_prev : (B, H) array
        Hidden state h_{t-1} (read by the GRU).
    c_prev : (B, H) or (B, 0) array
        Cell state c_{t-1} (LSTM only).
    h : (B, H) array
        Hidden state h_t of this step.
    saved : (B, N_SAVED*H) array
        What :func:`forward_step` saved at this step.
    d_gates : (B, G*H) array
        Written: dL/d(pre-activations) of this step, w.r.t. the recurrent projection ``gh``.
    d_gates_x : (B, G*H) array
        GRU: written, the same w.r.t. the input projection ``gx`` (differs in the n block). Other
        cells: not touched (callers pass ``d_gates`` again).
    """
    for b in range(h.shape[0]):
        if kind == LSTM:
            lstm.backward_row(d_out[b], dh[b], dc[b], c_prev[b], saved[b], d_gates[b])
        elif kind == GRU:
            gru.backward_row(d_out[b], dh[b], dc[b], h_prev[b], saved[b], d_gates[b], d_gates_x[b])
        else:
            elman.backward_row(kind, d_out[b], dh[b], h[b], d_gates[b])


class _PythonSource:
    """A cell module whose jitted functions are seen as their Python source (``py_func``)."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        return getattr(value, "py_func", value)


def python_unit_forms():
    """``(unit_forward, unit_backward)`` as Python functions down to each cell's unit form, for the CUDA
    simulator: it runs kernels as Python, with array objects that no compiled function takes. The
    scalar equations below the unit forms take numbers and stay compiled."""
    namespace = dict(globals(), elman=_PythonSource(elman), lstm=_PythonSource(lstm), gru=_PythonSource(gru))
    return tuple(types.FunctionType(function.py_func.__code__, namespace, function.__name__)
                 for function in (unit_forward, unit_backward))
