"""``@njit`` CPU kernels: the time loops of one recurrent layer, shared by every cell."""

from .recurrent import layer_backward, layer_forward

__all__ = ["layer_forward", "layer_backward"]
