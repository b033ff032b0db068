"""Host to device copies that give device arrays numba-cuda treats as contiguous.

numpy calls an array C-contiguous whatever the stride of an axis of length 1 (``x[np.newaxis]``
has stride 0 there), and ``cuda.to_device`` keeps the host strides; numba-cuda's device arrays see
a zero stride as broadcasting, call the array non-contiguous and refuse to reshape it. Every upload
goes through :func:`upload`, which copies such an array to plain C strides on the host first.
"""

import numpy as np
from numba import cuda


def upload(array, dtype=None):
    """A C-contiguous device copy of the host ``array`` (cast to ``dtype`` when given)."""
    host = np.ascontiguousarray(array, dtype=dtype)
    if host.size and 0 in host.strides:
        host = host.copy()  # a new array has plain C strides
    return cuda.to_device(host)
