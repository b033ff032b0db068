"""Scalar math of the optimizer updates, shared by the CPU loops (:mod:`fastrnn.kernels.cpu.updates`)
and the CUDA kernels (:mod:`fastrnn.kernels.cuda.elementwise`), as :mod:`fastrnn.kernels.cells` is for
the recurrent cells. Each function takes one parameter, its gradient and its optimizer state and
returns their new values; the scalars come in the buffers' dtype (:func:`adam_scalars`), so float32
models update in float32 on both devices.

- SGD with momentum (PyTorch's form): ``v = momentum * v - lr * g``; plain momentum adds ``v``,
  Nesterov adds ``momentum * v - lr * g``.
- Adam (Kingma & Ba, 2015; PyTorch's form, epsilon added after the second moment's bias correction):
  ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
  ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
- Adagrad (Duchi et al., 2011): ``s += g^2``, ``p -= lr * g / (sqrt(s) + eps)``.
"""

import math

from numba import njit

from . import config
from .cache import drop_stale_cache
from .config import INLINE_OPTIONS

drop_stale_cache(__file__, [config.__file__])  # the jit options live there


@njit(**INLINE_OPTIONS)
def sgd_update(p, g, velocity, learning_rate, momentum, nesterov):
    """One parameter's SGD step: returns ``(p, velocity)``."""
    v = momentum * velocity - learning_rate * g
    if nesterov:
        return p + (momentum * v - learning_rate * g), v
    return p + v, v


@njit(**INLINE_OPTIONS)
def adam_update(p, g, m, v, step_size, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, correction_2, epsilon):
    """One parameter's Adam step with the scalars of :func:`adam_scalars`: returns ``(p, m, v)``."""
    m = beta_1 * m + one_minus_beta_1 * g
    v = beta_2 * v + one_minus_beta_2 * g * g
    return p - step_size * m / (math.sqrt(v) / correction_2 + epsilon), m, v


@njit(**INLINE_OPTIONS)
def adagrad_update(p, g, s, learning_rate, epsilon):
    """One parameter's Adagrad step: returns ``(p, s)``."""
    s = s + g * g
    return p - learning_rate * g / (math.sqrt(s) + epsilon), s


def adam_scalars(dtype, learning_rate, beta_1, beta_2, epsilon, t):
    """The scalars of :func:`adam_update` for step ``t`` (1-based), in ``dtype``: step size
    ``lr / (1 - b1^t)``, ``b1``, ``1 - b1``, ``b2``, ``1 - b2``, ``sqrt(1 - b2^t)``, ``eps``."""
    k = dtype.type
    return (k(learning_rate / (1.0 - beta_1 ** t)), k(beta_1), k(1.0 - beta_1), k(beta_2), k(1.0 - beta_2),
            k(math.sqrt(1.0 - beta_2 ** t)), k(epsilon))
