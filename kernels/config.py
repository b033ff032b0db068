"""Every Numba option the kernels use, in one place.

Kernels import ``JIT_OPTIONS`` (array loops) and ``INLINE_OPTIONS`` (scalar and per-step helpers that
are inlined into the loops) instead of repeating flags, so a change here reaches every kernel.

Choices:

- ``cache=True``: compiled kernels are written next to the sources and reused by the next process.
  Cell types are selected by an integer argument (never by passing jitted functions, which defeats
  the cache in Numba 0.68; see DESIGN.md).
- ``error_model="numpy"``: division by zero gives inf/nan instead of a Python exception check in
  every division, which would keep the pointwise loops scalar.
- ``fastmath``: the flags that let LLVM reassociate and contract (FMA) floating-point arithmetic.
  ``nnan``/``ninf`` are left out on purpose: the layers must see NaN and inf when they occur.
- ``nogil=True``: kernels release the GIL, so threads of the caller can run other work.
"""

FASTMATH_FLAGS = {"nsz", "arcp", "contract", "reassoc"}

JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH_FLAGS)

INLINE_OPTIONS = dict(JIT_OPTIONS, inline="always")
