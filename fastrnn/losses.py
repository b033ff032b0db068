"""Losses: value and gradient with respect to the model's raw outputs, averaged over samples.

Each function takes predictions and targets of the same leading shape and returns
``(loss, d_pred)``; ``weights`` (optional, broadcast against the targets' leading axes) mask out
entries that carry no loss, such as padded steps. The averages are over the weighted entries.

The numpy implementations live in the kernels layer (``fastrnn.kernels.cpu.losses``), beside their GPU
twins (``fastrnn.kernels.cuda.losses``); a backend exposes the losses of its device as methods
(``backend.squared_error(...)`` and so on). This module is the public face of the CPU ones.
"""

from .kernels.cpu.losses import (binary_cross_entropy, log_sigmoid, log_softmax, softmax_cross_entropy,
                                 squared_error)

__all__ = ["squared_error", "softmax_cross_entropy", "binary_cross_entropy", "log_softmax", "log_sigmoid"]
