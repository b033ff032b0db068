"""Elman RNN cell: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``act`` = tanh or relu
(cell codes ``RNN_TANH``, ``RNN_RELU``). One gate block; nothing saved beyond the output.

Scalar equations, then the unit form (unit ``j`` of one sequence: a GPU thread), then the row form
(one sequence's row of ``H`` units: a CPU pass LLVM vectorizes).
"""

from numba import njit

from .. import config
from ..cache import drop_stale_cache, package_files
from ..config import INLINE_OPTIONS
from .activations import relu_grad, tanh_act, tanh_grad
from .codes import RNN_TANH

drop_stale_cache(__file__, [*package_files(__file__), config.__file__])


# ------------------------------------------------------------------------------- scalar equations

@njit(**INLINE_OPTIONS)
def activate(kind, pre, exact):
    """h = tanh(pre) or relu(pre), with ``pre`` the summed pre-activation."""
    if kind == RNN_TANH:
        return tanh_act(pre, exact)
    return max(pre, 0.0)


@njit(**INLINE_OPTIONS)
def activate_grad(kind, dh, h):
    """dL/d(pre) from dL/dh and the output h."""
    if kind == RNN_TANH:
        return tanh_grad(dh, h)
    return relu_grad(dh, h)


# ------------------------------------------------------------------------------------ unit form

@njit(**INLINE_OPTIONS)
def unit_forward(kind, gx, gh, h_out, j, exact):
    """Unit ``j``: writes and returns h_t[j]."""
    h = activate(kind, gx[j] + gh[j], exact)
    h_out[j] = h
    return h


@njit(**INLINE_OPTIONS)
def unit_backward(kind, dht, h, d_gates, j):
    """Unit ``j``, from dL/dh_t[j] = ``dht``: writes dL/d(pre)[j]."""
    d_gates[j] = activate_grad(kind, dht, h[j])


# ------------------------------------------------------------------------------------- row form

@njit(**INLINE_OPTIONS)
def forward_row(kind, gx, gh, h_out, exact):
    """One sequence's row: ``h_out = act(gx + gh)``."""
    for j in range(h_out.shape[0]):
        h_out[j] = activate(kind, gx[j] + gh[j], exact)


@njit(**INLINE_OPTIONS)
def backward_row(kind, d_out, dh, h, d_gates):
    """One sequence's row: ``d_gates = act'(d_out + dh)`` (the cell's branch outside the loop)."""
    hidden = h.shape[0]
    if kind == RNN_TANH:
        for j in range(hidden):
            d_gates[j] = tanh_grad(d_out[j] + dh[j], h[j])
    else:
        for j in range(hidden):
            d_gates[j] = relu_grad(d_out[j] + dh[j], h[j])
