"""``@njit`` CPU kernels: the time loops of one recurrent layer, shared by every cell, and the
split of a layer's work over the cores by rows."""

from .recurrent import (backward_steps, chunk_rows, column_slabs, forward_steps, layer_backward, layer_forward,
                        product_plan, projection_bias, slab_width, step_plan)
from . import threads
from .threads import batch_ranges, run_in_threads, split_threads

__all__ = ["threads", "layer_forward", "layer_backward", "projection_bias", "forward_steps", "backward_steps",
           "chunk_rows", "product_plan", "step_plan", "column_slabs", "slab_width", "split_threads", "batch_ranges",
           "run_in_threads"]
