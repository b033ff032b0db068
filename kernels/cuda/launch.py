"""Kernel launch configurations, made once per (kernel, grid, block) and without numba-cuda's
low-occupancy warning.

numba-cuda warns ("Grid size N will likely result in GPU under-utilization") at every
configuration of a grid under 128 blocks. fastrnn launches such grids by design: the persistent
time loop runs one block per sequence, and the per-step kernels of a small batch have few blocks.
On a GPU the warning would print at each step of a fit, and silencing it for the whole process
would hide it from the user's own kernels too, so it is ignored here only, while a configuration
is made. That happens under a lock (``warnings.catch_warnings`` swaps the process's filter list,
so two fastrnn threads configuring at once could leave the filter on) and once per distinct launch
shape, since configurations are cached. In the CUDA simulator, which never warns, ``kernel[...]``
reconfigures and returns the kernel itself, so nothing is cached there.
"""

import functools
import threading
import warnings

from numba.core.errors import NumbaPerformanceWarning
from numba.cuda import config as cuda_config


def launch(kernel, blocks, threads):
    """``kernel[blocks, threads]``, cached, without the low-occupancy warning.

    Parameters
    ----------
    kernel : numba-cuda kernel (``@cuda.jit``)
    blocks, threads : int or tuple of int
        The grid and block dimensions, as in ``kernel[blocks, threads]``.

    Returns
    -------
    The configured kernel: calling it with the kernel's arguments launches it.
    """
    if cuda_config.ENABLE_CUDASIM:
        return kernel[blocks, threads]
    return configured(kernel, blocks, threads)


_CONFIGURING = threading.Lock()


@functools.lru_cache(maxsize=4096)
def configured(kernel, blocks, threads):
    """:func:`launch` on a GPU: ``kernel[blocks, threads]`` made once, the warning ignored meanwhile."""
    with _CONFIGURING, warnings.catch_warnings():
        # numba highlights the message with terminal codes: it does not start with "Grid"
        warnings.filterwarnings("ignore", message=".*Grid size", category=NumbaPerformanceWarning)
        return kernel[blocks, threads]
