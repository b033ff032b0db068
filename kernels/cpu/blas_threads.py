"""The thread count of the BLAS that Numba's ``np.dot`` calls (scipy's OpenBLAS), set from here.

When fastrnn splits a layer's work over the cores itself (:mod:`fastrnn.kernels.cpu.threads`), every
BLAS call must stay in its caller's thread: after a multi-threaded call, OpenBLAS's idle worker keeps
spinning on a core for a while (``OPENBLAS_THREAD_TIMEOUT``, about 0.1 s by default) and takes it from
fastrnn's own threads (measured on the 2-core development machine: a split LSTM forward pass, batch
16, T=200, hidden 128, took 7.0 ms right after a two-thread input projection, 3.9 ms with OpenBLAS
on one thread).

scipy's wheels bundle OpenBLAS with its symbols prefixed (``scipy_openblas_set_num_threads``); older
wheels and other builds use the plain names. Where no such library is found (scipy on MKL or
Accelerate, say), :func:`blas_threads` returns None and fastrnn leaves the threading to the BLAS.
"""

import ctypes
import glob
import os
import threading
from contextlib import contextmanager

_SYMBOL_PREFIXES = ("scipy_openblas", "openblas")
_SYMBOL_SUFFIXES = ("64_", "")
_UNSET = object()
_control = _UNSET


class OpenBLASThreads:
    """Get and set the thread count of one loaded OpenBLAS library."""

    def __init__(self, library, prefix, suffix):
        self.path = library._name
        self._get = getattr(library, f"{prefix}_get_num_threads{suffix}")
        self._set = getattr(library, f"{prefix}_set_num_threads{suffix}")
        self._get.restype = ctypes.c_int
        self._get.argtypes = []
        self._set.restype = None
        self._set.argtypes = [ctypes.c_int]
        self._lock = threading.Lock()
        self._holders = 0  # blocks of limited_to open now, in any thread
        self._restore = None  # the count before the first of them

    def get(self):
        """Threads OpenBLAS uses now."""
        return self._get()

    def set(self, n):
        """Use ``n`` threads from now on."""
        self._set(int(n))

    @contextmanager
    def limited_to(self, n):
        """Within the block, at most ``n`` threads. Blocks may overlap, in one thread or several
        (two estimators trained in threads of one process): the count from before the first of them
        comes back when the last one ends, not when each does (which would leave the limit of
        whichever ended last)."""
        with self._lock:
            if self._holders == 0:
                self._restore = self.get()
            self._holders += 1
            if self.get() > n:
                self.set(n)
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self.get() != self._restore:
                    self.set(self._restore)


def _candidate_libraries():
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401 (loads the library Numba's BLAS calls go to)

    root = os.path.dirname(scipy.__file__)
    patterns = [os.path.join(root, os.pardir, "scipy.libs", "*openblas*"),  # Linux and Windows wheels
                os.path.join(root, ".dylibs", "*openblas*")]  # macOS wheels
    return sorted(path for pattern in patterns for path in glob.glob(pattern))


def blas_threads():
    """:class:`OpenBLASThreads` for scipy's OpenBLAS, or None where it cannot be found or controlled."""
    global _control
    if _control is _UNSET:
        _control = None
        for path in _candidate_libraries():
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix in _SYMBOL_PREFIXES:
                for suffix in _SYMBOL_SUFFIXES:
                    if hasattr(library, f"{prefix}_set_num_threads{suffix}"):
                        _control = OpenBLASThreads(library, prefix, suffix)
                        return _control
    return _control
