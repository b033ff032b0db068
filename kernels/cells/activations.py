"""Activation functions of the cells and their gradients, as scalar functions (and two in-place row
passes), inlined into the kernels of both devices.

float64 arrays use the library ``tanh`` and ``exp``; float32 arrays a fast rational ``tanh``
(:func:`fast_tanh`) for tanh and sigmoid alike. The gradients are written from the activation's
output and without Python float literals: a literal is float64 in Numba and would promote float32
arithmetic to float64 (half the SIMD width).

The CPU's in-place activation passes (:func:`sigmoid_in_place`, :func:`tanh_in_place`) and the
LSTM's ``tanh(c_t)`` pass call :func:`tanh_value` and :func:`sigmoid_value`, the same functions
compiled on their own, not inlined by Numba: Numba copies and types an inlined function's code again at every
call site, and the activations sit at several sites of every time loop. Compiled apart, they are
typed once per dtype, and LLVM still inlines them into each pass before vectorizing it, so the code
that runs and its results are the same (bit for bit, every cell and dtype, on the 2-core development
machine), while a new environment's first LSTM fit compiles about 0.6 s less (8.4 s against 9.0 s,
interleaved). The GPU kernels inline the scalar functions, as numba-cuda needs.
"""

import math

import numpy as np
from numba import njit

from .. import config
from ..cache import drop_stale_cache, package_files
from ..config import INLINE_OPTIONS, JIT_OPTIONS

drop_stale_cache(__file__, [*package_files(__file__), config.__file__])


@njit(**INLINE_OPTIONS)
def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)); exp overflows to inf for x << 0, giving exactly 0."""
    return 1.0 / (1.0 + math.exp(-x))


# Fast float32 tanh: a clamped odd rational approximation p(x)/q(x) of degrees 13/6, with the
# coefficients Eigen publishes for its float tanh (Eigen/src/Core/MathFunctionsImpl.h,
# generic_fast_tanh_float). It has no branches or library calls, so loops over it vectorize, and its
# error against float64 tanh is below 1e-6 (tests/test_cells.py). The constants are float32 so that
# float32 arithmetic stays float32.
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


@njit(**JIT_OPTIONS)
def tanh_value(x, exact):
    """:func:`tanh_act` compiled on its own, for the CPU's row passes (see the module docstring)."""
    return tanh_act(x, exact)


@njit(**JIT_OPTIONS)
def sigmoid_value(x, exact):
    """:func:`sigmoid_act` compiled on its own, for the CPU's row passes (see the module docstring)."""
    return sigmoid_act(x, exact)


@njit(**INLINE_OPTIONS)
def sigmoid_grad(d_out, s):
    """dL/dx of s = sigmoid(x), from dL/ds and s (``s - s*s`` rather than ``s * (1 - s)``: no literal)."""
    return d_out * (s - s * s)


@njit(**INLINE_OPTIONS)
def tanh_grad(d_out, t):
    """dL/dx of t = tanh(x), from dL/dt and t (no float literal)."""
    return d_out - d_out * t * t


@njit(**INLINE_OPTIONS)
def relu_grad(d_out, y):
    """dL/dx of y = max(x, 0), from dL/dy and y (zero gradient at and below the kink).

    ``y - y`` is a zero of y's type (y >= 0 is finite there, or NaN, which then propagates); a literal
    0.0 would be float64."""
    return d_out if y > 0.0 else y - y


@njit(**INLINE_OPTIONS)
def sigmoid_in_place(row, exact):
    """``row = sigmoid(row)``, one vectorizable pass over a 1-D row."""
    for j in range(row.shape[0]):
        row[j] = sigmoid_value(row[j], exact)


@njit(**INLINE_OPTIONS)
def tanh_in_place(row, exact):
    """``row = tanh(row)``, one vectorizable pass over a 1-D row."""
    for j in range(row.shape[0]):
        row[j] = tanh_value(row[j], exact)
