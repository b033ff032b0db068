"""Pointwise math of each recurrent cell: one time step forward, one time step backward.

The time loops in :mod:`fastrnn.kernels.cpu` and :mod:`fastrnn.kernels.cuda` are shared by every
cell. They compute the matrix products (input projection of all steps, recurrent product of each
step) and call the scalar functions here for the elementwise part, choosing the cell by an integer
code so that Numba's on-disk cache holds (a jitted function passed as an argument would force a
recompile in every process).

Conventions (PyTorch's, so weights move between the libraries by name):

- gate pre-activations are stacked along the last axis in blocks of ``H``: RNN one block, LSTM four
  blocks in the order input ``i``, forget ``f``, cell candidate ``g``, output ``o``;
- ``gx`` holds ``W_ih x_t + b_ih + b_hh`` and ``gh`` holds ``W_hh h_{t-1}``; they are kept apart so
  that a cell whose recurrent term is gated (GRU) can use them separately;
- ``saved`` holds what the backward step needs beyond the states: nothing for the Elman RNN (its
  output is enough), ``[i, f, g, o, tanh(c_t)]`` for the LSTM, ``[r, z, n, W_hn h_{t-1} + b_hn]`` for
  the GRU;
- GRU only: the candidate's recurrent bias ``b_hn`` sits inside the reset gate's product, so ``gx``'s
  n block holds ``W_in x_t + b_in`` alone and ``gh``'s n block ``W_hn h_{t-1} + b_hn``; the backward
  pass then has two sets of pre-activation gradients, w.r.t. ``gh`` (``d_gates``) and w.r.t. ``gx``
  (``d_gates_x``), which differ in the n block by the factor r. For the other cells they coincide.

Equations:

- Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``act`` = tanh or relu.
- LSTM: ``i, f, o = sigmoid(.)``, ``g = tanh(.)``, ``c_t = f * c_{t-1} + i * g``,
  ``h_t = o * tanh(c_t)``.
- GRU (PyTorch's form): ``r, z = sigmoid(.)``, ``n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))``,
  ``h_t = (1 - z) * n + z * h_{t-1}``.
"""

import math

import numpy as np
from numba import njit

from .config import INLINE_OPTIONS

RNN_TANH = 0
RNN_RELU = 1
LSTM = 2
GRU = 3

#: cell name -> integer code used by the kernels
CELL_CODES = {"rnn_tanh": RNN_TANH, "rnn_relu": RNN_RELU, "lstm": LSTM, "gru": GRU}
#: number of gate blocks of size H in the stacked weights, by cell code
N_GATES = (1, 1, 4, 3)
#: width of the per-step saved activations in units of H, by cell code
N_SAVED = (0, 0, 5, 4)
#: whether the cell has a second state (the LSTM's cell state c), by cell code
HAS_CELL_STATE = (False, False, True, False)
#: width, in units of H, of the backward pass's carry buffer ``dc``: the LSTM's dL/dc; the GRU's
#: direct path dL/dh_{t-1} = dL/dh_t * z, added after the recurrent product; none for the Elman RNN
N_CARRY = (0, 0, 1, 1)


@njit(**INLINE_OPTIONS)
def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)); exp overflows to inf for x << 0, giving exactly 0."""
    return 1.0 / (1.0 + math.exp(-x))


# Fast float32 tanh: a clamped odd rational approximation p(x)/q(x) of degrees 13/6, with the
# coefficients Eigen publishes for its float tanh (Eigen/src/Core/MathFunctionsImpl.h,
# generic_fast_tanh_float). It has no branches or library calls, so loops over it vectorize, and its
# error against float64 tanh is below 1e-6 (tested). The constants are float32 so that float32
# arithmetic stays float32.
_TANH_CLAMP = np.float32(7.90531110763549805)
_ALPHA = tuple(np.float32(a) for a in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                       5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                       -2.76076847742355e-16))
_BETA = tuple(np.float32(b) for b in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                      1.19825839466702e-06))
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = _ALPHA
_B0, _B2, _B4, _B6 = _BETA
_HALF = np.float32(0.5)


@njit(**INLINE_OPTIONS)
def fast_tanh(x):
    """tanh for float32 by the clamped rational approximation above (max error < 1e-6)."""
    x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x * (x2 * p + _A1)
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return p / q


@njit(**INLINE_OPTIONS)
def tanh_act(x, exact):
    """tanh: the library function when ``exact`` (float64 arrays), else :func:`fast_tanh`."""
    if exact:
        return math.tanh(x)
    return fast_tanh(x)


@njit(**INLINE_OPTIONS)
def sigmoid_act(x, exact):
    """Logistic function: exact for float64, ``0.5 * tanh(0.5 x) + 0.5`` with :func:`fast_tanh` for float32."""
    if exact:
        return sigmoid(x)
    return _HALF * fast_tanh(_HALF * x) + _HALF


# ---------------------------------------------------------------------------------------------
# Per-unit scalar math: the single source of each cell's equations. The CPU batch steps
# (fastrnn.kernels.cpu.steps, short vectorizable passes over rows) and the CUDA kernels in
# fastrnn.kernels.cuda (one thread per unit) both call these functions.
# ---------------------------------------------------------------------------------------------

@njit(**INLINE_OPTIONS)
def rnn_unit_forward(kind, pre, exact):
    """Elman unit: h = tanh(pre) or relu(pre), with ``pre`` the summed pre-activation."""
    if kind == RNN_TANH:
        return tanh_act(pre, exact)
    return max(pre, 0.0)


@njit(**INLINE_OPTIONS)
def relu_grad(d_out, y):
    """dL/dx of y = max(x, 0), from dL/dy and y (zero gradient at and below the kink).

    ``y - y`` is a zero of y's type (y >= 0 is finite there, or NaN, which then propagates); a literal
    0.0 would be float64 (see :func:`sigmoid_grad`)."""
    return d_out if y > 0.0 else y - y


@njit(**INLINE_OPTIONS)
def rnn_unit_backward(kind, dh, h):
    """dL/d(pre) of an Elman unit from dL/dh and its output h."""
    if kind == RNN_TANH:
        return tanh_grad(dh, h)
    return relu_grad(dh, h)


@njit(**INLINE_OPTIONS)
def lstm_cell_state(i, f, g, c_prev):
    """New LSTM cell state c_t = f * c_{t-1} + i * g."""
    return f * c_prev + i * g


@njit(**INLINE_OPTIONS)
def lstm_unit_forward(pre_i, pre_f, pre_g, pre_o, c_prev, exact):
    """LSTM unit: returns the gates i, f, g, o, the new cell state c, tanh(c) and the output h."""
    i = sigmoid_act(pre_i, exact)
    f = sigmoid_act(pre_f, exact)
    g = tanh_act(pre_g, exact)
    o = sigmoid_act(pre_o, exact)
    c = lstm_cell_state(i, f, g, c_prev)
    tanh_c = tanh_act(c, exact)
    return i, f, g, o, c, tanh_c, o * tanh_c


@njit(**INLINE_OPTIONS)
def sigmoid_grad(d_out, s):
    """dL/dx of s = sigmoid(x), from dL/ds and s.

    Written without float literals (``s - s*s`` rather than ``s * (1 - s)``): a Python float literal
    is float64 in Numba and would promote float32 arithmetic to float64 (half the SIMD width)."""
    return d_out * (s - s * s)


@njit(**INLINE_OPTIONS)
def tanh_grad(d_out, t):
    """dL/dx of t = tanh(x), from dL/dt and t (no float literal; see :func:`sigmoid_grad`)."""
    return d_out - d_out * t * t


@njit(**INLINE_OPTIONS)
def lstm_cell_grad(dc, dh, o, tanh_c):
    """dL/dc_t: the gradient arriving from step t+1 plus the path through h_t = o * tanh(c_t)."""
    return dc + tanh_grad(dh * o, tanh_c)


@njit(**INLINE_OPTIONS)
def lstm_unit_backward(dh, dc, i, f, g, o, tanh_c, c_prev):
    """LSTM unit backward: from dL/dh_t and dL/dc_t (coming from t+1) to the four pre-activation
    gradients (i, f, g, o) and dL/dc_{t-1}."""
    dct = lstm_cell_grad(dc, dh, o, tanh_c)
    return (sigmoid_grad(dct * g, i),
            sigmoid_grad(dct * c_prev, f),
            tanh_grad(dct * i, g),
            sigmoid_grad(dh * tanh_c, o),
            dct * f)


@njit(**INLINE_OPTIONS)
def gru_candidate(pre_n_x, r, gh_n, exact):
    """GRU candidate n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) from its two halves and r."""
    return tanh_act(pre_n_x + r * gh_n, exact)


@njit(**INLINE_OPTIONS)
def gru_output(n, z, h_prev):
    """GRU output h_t = (1 - z) * n + z * h_{t-1}, written without a float literal."""
    return n + z * (h_prev - n)


@njit(**INLINE_OPTIONS)
def gru_unit_forward(pre_r, pre_z, pre_n_x, gh_n, h_prev, exact):
    """GRU unit: returns r, z, n and the output h."""
    r = sigmoid_act(pre_r, exact)
    z = sigmoid_act(pre_z, exact)
    n = gru_candidate(pre_n_x, r, gh_n, exact)
    return r, z, n, gru_output(n, z, h_prev)


@njit(**INLINE_OPTIONS)
def gru_unit_backward(dh, r, z, n, gh_n, h_prev):
    """GRU unit backward from dL/dh_t: returns dL/d(pre r), dL/d(pre z), dL/d(pre n) (w.r.t. the
    input half; the recurrent half's is r times it) and the direct part of dL/dh_{t-1}, dh * z."""
    d_n = tanh_grad(dh - dh * z, n)
    return sigmoid_grad(d_n * gh_n, r), sigmoid_grad(dh * (h_prev - n), z), d_n, dh * z


# ---------------------------------------------------------------------------------------------
# One unit of one sequence at one step, reading and writing rows: the memory layout in one place.
# The CUDA kernels give each (sequence, unit) a thread; the CPU steps work on whole rows instead.
# Rows: gx, gh, saved, d_gates are (G*H,) or (N_SAVED*H,); the others (H,) or (0,).
# ---------------------------------------------------------------------------------------------

@njit(**INLINE_OPTIONS)
def unit_forward(kind, gx, gh, h_prev, c_prev, h_out, c_out, saved, hidden, j):
    """Forward of unit ``j``: pre-activations ``gx + gh``; writes h_t[j] (and c_t[j], saved) and
    returns h_t[j]. float64 arrays use the library tanh and exp, float32 arrays :func:`fast_tanh`."""
    exact = h_out.itemsize == 8
    if kind == GRU:
        gh_n = gh[2 * hidden + j]
        r, z, n, h = gru_unit_forward(gx[j] + gh[j], gx[hidden + j] + gh[hidden + j], gx[2 * hidden + j],
                                      gh_n, h_prev[j], exact)
        saved[j] = r
        saved[hidden + j] = z
        saved[2 * hidden + j] = n
        saved[3 * hidden + j] = gh_n
    elif kind == LSTM:
        i, f, g, o, c, tanh_c, h = lstm_unit_forward(
            gx[j] + gh[j], gx[hidden + j] + gh[hidden + j],
            gx[2 * hidden + j] + gh[2 * hidden + j], gx[3 * hidden + j] + gh[3 * hidden + j], c_prev[j],
            exact)
        c_out[j] = c
        saved[j] = i
        saved[hidden + j] = f
        saved[2 * hidden + j] = g
        saved[3 * hidden + j] = o
        saved[4 * hidden + j] = tanh_c
    else:
        h = rnn_unit_forward(kind, gx[j] + gh[j], exact)
    h_out[j] = h
    return h


@njit(**INLINE_OPTIONS)
def unit_backward(kind, d_out, dh, dc, h_prev, c_prev, h, saved, d_gates, d_gates_x, hidden, j):
    """Backward of unit ``j``: dL/dh_t[j] = d_out[j] + dh[j]; writes the pre-activation gradients of
    the unit into ``d_gates`` (and, GRU only, ``d_gates_x``; see the module docstring). LSTM: replaces
    dc[j] (dL/dc_t) by dL/dc_{t-1}. GRU: writes dc[j], the direct part of dL/dh_{t-1}[j]."""
    dht = d_out[j] + dh[j]
    if kind == GRU:
        r = saved[j]
        d_r, d_z, d_n, d_direct = gru_unit_backward(dht, r, saved[hidden + j], saved[2 * hidden + j],
                                                    saved[3 * hidden + j], h_prev[j])
        d_gates[j] = d_r
        d_gates[hidden + j] = d_z
        d_gates[2 * hidden + j] = r * d_n
        d_gates_x[j] = d_r
        d_gates_x[hidden + j] = d_z
        d_gates_x[2 * hidden + j] = d_n
        dc[j] = d_direct
    elif kind == LSTM:
        di, df, dg, do, dc_prev = lstm_unit_backward(
            dht, dc[j], saved[j], saved[hidden + j], saved[2 * hidden + j], saved[3 * hidden + j],
            saved[4 * hidden + j], c_prev[j])
        d_gates[j] = di
        d_gates[hidden + j] = df
        d_gates[2 * hidden + j] = dg
        d_gates[3 * hidden + j] = do
        dc[j] = dc_prev
    else:
        d_gates[j] = rnn_unit_backward(kind, dht, h[j])
