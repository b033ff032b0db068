"""Pointwise part of one time step for a batch, on the CPU: each cell as a few short passes over rows.

The equations are the scalar functions of :mod:`fastrnn.kernels.cells`; this module only decides
how the CPU walks the memory. Each pass is a loop over one contiguous row (``H`` or ``G*H`` values)
that touches at most four arrays, so LLVM vectorizes it (AVX-512: 16 float32 lanes). Measured here, an
LSTM step written as one loop per unit (nine loads and seven stores at different offsets) stayed
scalar at ~25 ns per unit; the passes below take ~3 ns per unit (float32, batch 32, hidden 64).
Gate blocks are taken as 1-D views (``row[k*H:(k+1)*H]``) rather than indexed with offsets, which
is what lets LLVM prove the accesses independent.

Layouts (cell codes and gate order as in :mod:`fastrnn.kernels.cells`): ``saved`` rows of the LSTM
hold ``[i, f, g, o, tanh(c_t)]``, those of the GRU ``[r, z, n, W_hn h_{t-1} + b_hn]``; the forward
writes the gates' pre-activations into ``saved`` and activates them in place, so the gates are never
stored twice.
"""

import numpy as np
from numba import njit

from ..cells import (GRU, LSTM, RNN_TANH, gru_candidate, gru_output, lstm_cell_grad, lstm_cell_state,
                     relu_grad, rnn_unit_forward, sigmoid_act, sigmoid_grad, tanh_act, tanh_grad)
from ..config import INLINE_OPTIONS
from .vector import copy_into


@njit(**INLINE_OPTIONS)
def _sigmoid_in_place(row, exact):
    for j in range(row.shape[0]):
        row[j] = sigmoid_act(row[j], exact)


@njit(**INLINE_OPTIONS)
def _tanh_in_place(row, exact):
    for j in range(row.shape[0]):
        row[j] = tanh_act(row[j], exact)


@njit(**INLINE_OPTIONS)
def _lstm_forward_row(gx, gh, c_prev, h_out, c_out, saved, exact):
    hidden = h_out.shape[0]
    n_gate_units = 4 * hidden
    pre = saved[:n_gate_units]
    for j in range(n_gate_units):
        pre[j] = gx[j] + gh[j]
    i = saved[:hidden]
    f = saved[hidden:2 * hidden]
    g = saved[2 * hidden:3 * hidden]
    o = saved[3 * hidden:n_gate_units]
    tanh_c = saved[n_gate_units:]
    _sigmoid_in_place(i, exact)
    _sigmoid_in_place(f, exact)
    _tanh_in_place(g, exact)
    _sigmoid_in_place(o, exact)
    for j in range(hidden):
        c_out[j] = lstm_cell_state(i[j], f[j], g[j], c_prev[j])
    for j in range(hidden):
        tanh_c[j] = tanh_act(c_out[j], exact)
    for j in range(hidden):
        h_out[j] = o[j] * tanh_c[j]


@njit(**INLINE_OPTIONS)
def _lstm_backward_row(d_out, dh, dc, c_prev, saved, d_gates):
    hidden = dh.shape[0]
    i = saved[:hidden]
    f = saved[hidden:2 * hidden]
    g = saved[2 * hidden:3 * hidden]
    o = saved[3 * hidden:4 * hidden]
    tanh_c = saved[4 * hidden:]
    d_i = d_gates[:hidden]
    d_f = d_gates[hidden:2 * hidden]
    d_g = d_gates[2 * hidden:3 * hidden]
    d_o = d_gates[3 * hidden:]
    for j in range(hidden):  # dL/dh_t, kept in d_o until the output gate's gradient replaces it
        d_o[j] = d_out[j] + dh[j]
    for j in range(hidden):  # dc becomes dL/dc_t
        dc[j] = lstm_cell_grad(dc[j], d_o[j], o[j], tanh_c[j])
    for j in range(hidden):
        d_o[j] = sigmoid_grad(d_o[j] * tanh_c[j], o[j])
    for j in range(hidden):
        d_i[j] = sigmoid_grad(dc[j] * g[j], i[j])
    for j in range(hidden):
        d_f[j] = sigmoid_grad(dc[j] * c_prev[j], f[j])
    for j in range(hidden):
        d_g[j] = tanh_grad(dc[j] * i[j], g[j])
    for j in range(hidden):  # dc becomes dL/dc_{t-1}
        dc[j] = dc[j] * f[j]


@njit(**INLINE_OPTIONS)
def _gru_forward_row(gx, gh, h_prev, h_out, saved, exact):
    hidden = h_out.shape[0]
    two = 2 * hidden
    gates = saved[:two]  # r and z
    for j in range(two):
        gates[j] = gx[j] + gh[j]
    _sigmoid_in_place(gates, exact)
    r = saved[:hidden]
    z = saved[hidden:two]
    n = saved[two:3 * hidden]
    gh_n = saved[3 * hidden:]
    copy_into(gh_n, gh[two:])
    gx_n = gx[two:]
    for j in range(hidden):
        n[j] = gru_candidate(gx_n[j], r[j], gh_n[j], exact)
    for j in range(hidden):
        h_out[j] = gru_output(n[j], z[j], h_prev[j])


@njit(**INLINE_OPTIONS)
def _gru_backward_row(d_out, dh, dc, h_prev, saved, d_gates, d_gates_x):
    hidden = dh.shape[0]
    two = 2 * hidden
    r = saved[:hidden]
    z = saved[hidden:two]
    n = saved[two:3 * hidden]
    gh_n = saved[3 * hidden:]
    d_r = d_gates_x[:hidden]
    d_z = d_gates_x[hidden:two]
    d_n = d_gates_x[two:]
    d_gh_n = d_gates[two:]
    for j in range(hidden):  # dL/dh_t, kept in dc until the direct path replaces it
        dc[j] = d_out[j] + dh[j]
    for j in range(hidden):  # through h_t = n + z * (h_{t-1} - n) and n = tanh(.)
        d_n[j] = tanh_grad(dc[j] - dc[j] * z[j], n[j])
    for j in range(hidden):
        d_z[j] = sigmoid_grad(dc[j] * (h_prev[j] - n[j]), z[j])
    for j in range(hidden):
        d_r[j] = sigmoid_grad(d_n[j] * gh_n[j], r[j])
    for j in range(hidden):
        d_gh_n[j] = r[j] * d_n[j]
    copy_into(d_gates[:two], d_gates_x[:two])
    for j in range(hidden):  # the direct part of dL/dh_{t-1}, added after the recurrent product
        dc[j] = dc[j] * z[j]


@njit(**INLINE_OPTIONS)
def forward_step(kind, gx, gh, h_prev, c_prev, h_out, c_out, saved):
    """Pointwise part of one forward time step for a batch.

    Parameters
    ----------
    kind : int
        Cell code (``RNN_TANH``, ``RNN_RELU`` or ``LSTM``).
    gx : (B, G*H) array
        ``W_ih x_t + b_ih + b_hh`` for this step.
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
    n_batch, hidden = h_out.shape
    for b in range(n_batch):
        if kind == LSTM:
            _lstm_forward_row(gx[b], gh[b], c_prev[b], h_out[b], c_out[b], saved[b], exact)
        elif kind == GRU:
            _gru_forward_row(gx[b], gh[b], h_prev[b], h_out[b], saved[b], exact)
        else:
            gx_row, gh_row, h_row = gx[b], gh[b], h_out[b]
            for j in range(hidden):
                h_row[j] = rnn_unit_forward(kind, gx_row[j] + gh_row[j], exact)


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
    n_batch, hidden = h.shape
    for b in range(n_batch):
        if kind == LSTM:
            _lstm_backward_row(d_out[b], dh[b], dc[b], c_prev[b], saved[b], d_gates[b])
        elif kind == GRU:
            _gru_backward_row(d_out[b], dh[b], dc[b], h_prev[b], saved[b], d_gates[b], d_gates_x[b])
        else:
            d_out_row, dh_row, h_row, d_row = d_out[b], dh[b], h[b], d_gates[b]
            if kind == RNN_TANH:
                for j in range(hidden):
                    d_row[j] = tanh_grad(d_out_row[j] + dh_row[j], h_row[j])
            else:
                for j in range(hidden):
                    d_row[j] = relu_grad(d_out_row[j] + dh_row[j], h_row[j])
