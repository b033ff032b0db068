"""LSTM cell (code ``LSTM``): ``i, f, o = sigmoid(.)``, ``g = tanh(.)``, ``c_t = f * c_{t-1} + i * g``,
``h_t = o * tanh(c_t)``.

Four gate blocks of ``H`` in the order ``i, f, g, o``; ``saved`` rows hold ``[i, f, g, o, tanh(c_t)]``.
The backward pass carries dL/dc in ``dc``. Scalar equations, then the unit form (unit ``j`` of one
sequence: a GPU thread), then the row form (one sequence's rows: CPU passes LLVM vectorizes).
"""

from numba import njit

from .. import config
from ..cache import drop_stale_cache, package_files
from ..config import INLINE_OPTIONS
from .activations import (sigmoid_act, sigmoid_grad, sigmoid_in_place, tanh_act, tanh_grad, tanh_in_place,
                          tanh_value)

drop_stale_cache(__file__, [*package_files(__file__), config.__file__])


# ------------------------------------------------------------------------------- scalar equations

@njit(**INLINE_OPTIONS)
def cell_state(i, f, g, c_prev):
    """New cell state c_t = f * c_{t-1} + i * g."""
    return f * c_prev + i * g


@njit(**INLINE_OPTIONS)
def forward(pre_i, pre_f, pre_g, pre_o, c_prev, exact):
    """Returns the gates i, f, g, o, the new cell state c, tanh(c) and the output h."""
    i = sigmoid_act(pre_i, exact)
    f = sigmoid_act(pre_f, exact)
    g = tanh_act(pre_g, exact)
    o = sigmoid_act(pre_o, exact)
    c = cell_state(i, f, g, c_prev)
    tanh_c = tanh_act(c, exact)
    return i, f, g, o, c, tanh_c, o * tanh_c


@njit(**INLINE_OPTIONS)
def cell_grad(dc, dh, o, tanh_c):
    """dL/dc_t: the gradient arriving from step t+1 plus the path through h_t = o * tanh(c_t)."""
    return dc + tanh_grad(dh * o, tanh_c)


@njit(**INLINE_OPTIONS)
def backward(dh, dc, i, f, g, o, tanh_c, c_prev):
    """From dL/dh_t and dL/dc_t (coming from t+1) to the four pre-activation gradients (i, f, g, o)
    and dL/dc_{t-1}."""
    dct = cell_grad(dc, dh, o, tanh_c)
    return (sigmoid_grad(dct * g, i),
            sigmoid_grad(dct * c_prev, f),
            tanh_grad(dct * i, g),
            sigmoid_grad(dh * tanh_c, o),
            dct * f)


# ------------------------------------------------------------------------------------ unit form

@njit(**INLINE_OPTIONS)
def unit_forward(gx, gh, c_prev, h_out, c_out, saved, hidden, j, exact):
    """Unit ``j``: pre-activations ``gx + gh``; writes c_t[j], its saved values and h_t[j]; returns h_t[j]."""
    i, f, g, o, c, tanh_c, h = forward(
        gx[j] + gh[j], gx[hidden + j] + gh[hidden + j],
        gx[2 * hidden + j] + gh[2 * hidden + j], gx[3 * hidden + j] + gh[3 * hidden + j], c_prev[j],
        exact)
    c_out[j] = c
    saved[j] = i
    saved[hidden + j] = f
    saved[2 * hidden + j] = g
    saved[3 * hidden + j] = o
    saved[4 * hidden + j] = tanh_c
    h_out[j] = h
    return h


@njit(**INLINE_OPTIONS)
def unit_backward(dht, dc, c_prev, saved, d_gates, hidden, j):
    """Unit ``j``, from dL/dh_t[j] = ``dht``: writes its four pre-activation gradients and replaces
    dc[j] (dL/dc_t) by dL/dc_{t-1}."""
    di, df, dg, do, dc_prev = backward(
        dht, dc[j], saved[j], saved[hidden + j], saved[2 * hidden + j], saved[3 * hidden + j],
        saved[4 * hidden + j], c_prev[j])
    d_gates[j] = di
    d_gates[hidden + j] = df
    d_gates[2 * hidden + j] = dg
    d_gates[3 * hidden + j] = do
    dc[j] = dc_prev


# ------------------------------------------------------------------------------------- row form
# Each pass is a loop over one contiguous row that touches at most four arrays, so that LLVM
# vectorizes it; gate blocks are 1-D views (``row[k*H:(k+1)*H]``), not offsets, which lets LLVM prove
# the accesses independent. The pre-activations go into ``saved`` and are activated in place, so the
# gates are never stored twice. Keep the passes apart: one loop per unit, with nine loads and seven
# stores at different offsets, stays scalar (measured on the 2-core development machine, float32,
# batch 32, hidden 64: ~25 ns per unit against ~3 ns for the passes).

@njit(**INLINE_OPTIONS)
def forward_row(gx, gh, c_prev, h_out, c_out, saved, exact):
    """One sequence's row: writes c_t, ``saved`` and h_t."""
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
    sigmoid_in_place(i, exact)
    sigmoid_in_place(f, exact)
    tanh_in_place(g, exact)
    sigmoid_in_place(o, exact)
    for j in range(hidden):
        c_out[j] = cell_state(i[j], f[j], g[j], c_prev[j])
    for j in range(hidden):
        tanh_c[j] = tanh_value(c_out[j], exact)
    for j in range(hidden):
        h_out[j] = o[j] * tanh_c[j]


@njit(**INLINE_OPTIONS)
def backward_row(d_out, dh, dc, c_prev, saved, d_gates):
    """One sequence's row: writes the four gate gradients; ``dc`` goes from dL/dc_t to dL/dc_{t-1}."""
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
        dc[j] = cell_grad(dc[j], d_o[j], o[j], tanh_c[j])
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
