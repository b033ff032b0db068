"""Functions compiled for one cell at a time, each at its first use.

The CPU time loops serve every cell, which they select by an integer code (:mod:`.codes`). Compiled
with the code as an argument, a loop holds the pointwise steps of all four cells, and LLVM optimizes
all of them though a network uses one: compiling the LSTM's forward and backward loops that way
took most of a new environment's first fit (measured on the 2-core development machine: 11.9 s in
all, against 8.3 s with the loops compiled per cell). Compiled with the code as a constant, the
other cells' branches are folded away before LLVM's costly passes, and a loop is compiled for a
cell only when a layer of that cell first runs.

Such a function is written once, in a factory ``make(kind)`` returning an ``@njit`` function whose
body reads ``kind`` from the enclosing scope: Numba takes a closure variable as a compile-time
constant, and its on-disk cache keys each specialization by the closure's values, so every cell's
function is loaded from the cache in the next process. The closure must hold plain values only
(the code): Numba keys the cache on the pickled closure, and a compiled function captured there
pickles differently in every process, which would defeat the cache.
"""

import threading


class PerCell:
    """A function of a cell code and arguments, compiled once per cell: ``f(kind, *args)`` calls
    ``f.of(kind)(*args)``.

    Parameters
    ----------
    make : callable
        ``make(kind)`` returns the ``@njit`` function of the cell code ``kind`` (called once per code).
        This object is called from Python only: compiled code cannot call it, and capturing
        ``f.of(kind)`` in another closure would defeat that closure's cache (see the module docstring).
    """

    def __init__(self, make):
        self.make = make
        self.__doc__ = make.__doc__
        self._made = {}
        self._lock = threading.Lock()

    def __call__(self, kind, *args):
        function = self._made.get(kind)
        if function is None:
            function = self.of(kind)
        return function(*args)

    def of(self, kind):
        """The compiled function of the cell code ``kind`` (made at the first request)."""
        with self._lock:
            if kind not in self._made:
                self._made[kind] = self.make(kind)
            return self._made[kind]

    @property
    def made(self):
        """``{kind: function}`` of the cells made so far."""
        return dict(self._made)
