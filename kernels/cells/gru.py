"""GRU cell (code ``GRU``), PyTorch's form: ``r, z = sigmoid(.)``,
``n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

Three gate blocks of ``H`` in the order ``r, z, n``; ``saved`` rows hold ``[r, z, n, W_hn h_{t-1} + b_hn]``.

The candidate's recurrent bias ``b_hn`` sits inside the reset gate's product, so the GRU's biases
are split (:func:`recurrent_bias_block`, used by the time loops of both devices): ``gx``'s n block
holds ``W_in x_t + b_in`` alone and ``gh``'s n block ``W_hn h_{t-1} + b_hn``. The backward pass then
has two sets of pre-activation gradients, w.r.t. ``gh`` (``d_gates``) and w.r.t. ``gx``
(``d_gates_x``), which differ in the n block by the factor r; and ``dc`` carries the direct path
dL/dh_{t-1} = dL/dh_t * z, which the time loops add after the recurrent product.

Scalar equations, then the unit form (unit ``j`` of one sequence: a GPU thread), then the row form
(one sequence's rows: CPU passes LLVM vectorizes).
"""

from numba import njit

from .. import config
from ..cache import drop_stale_cache, package_files
from ..config import INLINE_OPTIONS
from .activations import sigmoid_act, sigmoid_grad, sigmoid_in_place, tanh_act, tanh_grad
from .codes import GRU

drop_stale_cache(__file__, [*package_files(__file__), config.__file__])


# ------------------------------------------------------------------------------------ bias split

@njit(**INLINE_OPTIONS)
def recurrent_bias_block(kind, hidden):
    """``(start, stop)``: the columns of ``b_hh`` that cell ``kind`` adds to its recurrent product
    ``W_hh h_{t-1}``; the rest of ``b_hh`` is added with ``b_ih`` to the input projection.

    GRU: the n block ``2H:3H`` (``b_hn``, which the reset gate multiplies); every other cell: an empty
    block, all of ``b_hh`` goes with the input projection.
    """
    if kind == GRU:
        return 2 * hidden, 3 * hidden
    return 0, 0


# ------------------------------------------------------------------------------- scalar equations

@njit(**INLINE_OPTIONS)
def candidate(pre_n_x, r, gh_n, exact):
    """Candidate n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) from its two halves and r."""
    return tanh_act(pre_n_x + r * gh_n, exact)


@njit(**INLINE_OPTIONS)
def output(n, z, h_prev):
    """Output h_t = (1 - z) * n + z * h_{t-1}, written without a float literal."""
    return n + z * (h_prev - n)


@njit(**INLINE_OPTIONS)
def forward(pre_r, pre_z, pre_n_x, gh_n, h_prev, exact):
    """Returns r, z, n and the output h."""
    r = sigmoid_act(pre_r, exact)
    z = sigmoid_act(pre_z, exact)
    n = candidate(pre_n_x, r, gh_n, exact)
    return r, z, n, output(n, z, h_prev)


@njit(**INLINE_OPTIONS)
def backward(dh, r, z, n, gh_n, h_prev):
    """From dL/dh_t: returns dL/d(pre r), dL/d(pre z), dL/d(pre n) (w.r.t. the input half; the
    recurrent half's is r times it) and the direct part of dL/dh_{t-1}, dh * z."""
    d_n = tanh_grad(dh - dh * z, n)
    return sigmoid_grad(d_n * gh_n, r), sigmoid_grad(dh * (h_prev - n), z), d_n, dh * z


# ------------------------------------------------------------------------------------ unit form

@njit(**INLINE_OPTIONS)
def unit_forward(gx, gh, h_prev, h_out, saved, hidden, j, exact):
    """Unit ``j``: writes its saved values and h_t[j]; returns h_t[j]."""
    gh_n = gh[2 * hidden + j]
    r, z, n, h = forward(gx[j] + gh[j], gx[hidden + j] + gh[hidden + j], gx[2 * hidden + j], gh_n, h_prev[j],
                         exact)
    saved[j] = r
    saved[hidden + j] = z
    saved[2 * hidden + j] = n
    saved[3 * hidden + j] = gh_n
    h_out[j] = h
    return h


@njit(**INLINE_OPTIONS)
def unit_backward(dht, dc, h_prev, saved, d_gates, d_gates_x, hidden, j):
    """Unit ``j``, from dL/dh_t[j] = ``dht``: writes its gate gradients w.r.t. ``gh`` and ``gx`` and
    dc[j], the direct part of dL/dh_{t-1}[j]."""
    r = saved[j]
    d_r, d_z, d_n, d_direct = backward(dht, r, saved[hidden + j], saved[2 * hidden + j], saved[3 * hidden + j],
                                       h_prev[j])
    d_gates[j] = d_r
    d_gates[hidden + j] = d_z
    d_gates[2 * hidden + j] = r * d_n
    d_gates_x[j] = d_r
    d_gates_x[hidden + j] = d_z
    d_gates_x[2 * hidden + j] = d_n
    dc[j] = d_direct


# ------------------------------------------------------------------------------------- row form
# Short passes over contiguous rows, each vectorized by LLVM, as for the LSTM (lstm.py); keep them apart.

@njit(**INLINE_OPTIONS)
def forward_row(gx, gh, h_prev, h_out, saved, exact):
    """One sequence's row: writes ``saved`` and h_t."""
    hidden = h_out.shape[0]
    two = 2 * hidden
    gates = saved[:two]  # r and z
    for j in range(two):
        gates[j] = gx[j] + gh[j]
    sigmoid_in_place(gates, exact)
    r = saved[:hidden]
    z = saved[hidden:two]
    n = saved[two:3 * hidden]
    gh_n = saved[3 * hidden:]
    gh_n_step = gh[two:]
    for j in range(hidden):  # W_hn h_{t-1} + b_hn, kept for the backward pass
        gh_n[j] = gh_n_step[j]
    gx_n = gx[two:]
    for j in range(hidden):
        n[j] = candidate(gx_n[j], r[j], gh_n[j], exact)
    for j in range(hidden):
        h_out[j] = output(n[j], z[j], h_prev[j])


@njit(**INLINE_OPTIONS)
def backward_row(d_out, dh, dc, h_prev, saved, d_gates, d_gates_x):
    """One sequence's row: writes the gate gradients w.r.t. ``gx`` and ``gh`` and, in ``dc``, the
    direct part of dL/dh_{t-1}."""
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
    d_gates_rz, d_gates_x_rz = d_gates[:two], d_gates_x[:two]
    for j in range(two):  # r and z: the same gradients w.r.t. gx and gh
        d_gates_rz[j] = d_gates_x_rz[j]
    for j in range(hidden):  # the direct part of dL/dh_{t-1}, added after the recurrent product
        dc[j] = dc[j] * z[j]
