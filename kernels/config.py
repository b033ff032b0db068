"""Every Numba option the kernels use, in one place.

Kernels import ``JIT_OPTIONS`` (array loops) and ``INLINE_OPTIONS`` (scalar and per-step helpers that
are inlined into the loops) instead of repeating flags, so a change here reaches every kernel.

Choices:

- ``cache=True``: compiled kernels are written next to the sources and reused by the next process.
  Cell types are selected by an integer argument (never by passing jitted functions, which defeats
  the cache in Numba 0.68).
- ``error_model="numpy"``: division by zero gives inf/nan instead of a Python exception check in
  every division, which would keep the pointwise loops scalar.
- ``fastmath``: the flags that let LLVM reassociate and contract (FMA) floating-point arithmetic.
  ``nnan``/``ninf`` are left out on purpose: the layers must see NaN and inf when they occur.
- ``nogil=True``: kernels release the GIL, so threads of the caller can run other work.
"""

import os

FASTMATH_FLAGS = {"nsz", "arcp", "contract", "reassoc"}

JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH_FLAGS)

INLINE_OPTIONS = dict(JIT_OPTIONS, inline="always")

# ----------------------------------------------------------------------------------------- CUDA
# Read at launch time (tests shrink it so that multi-block and strided paths run in the simulator).
CUDA_THREADS_PER_BLOCK = 256

# Compile-time constants (shapes of cuda.shared arrays must be module globals).
#: whether numba runs CUDA kernels in its simulator (NUMBA_ENABLE_CUDASIM=1 before numba is imported)
CUDA_SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
#: edge of the square tiles of the shared-memory matrix product: 16 (blocks of 256 threads) on a GPU,
#: 4 in the simulator, which runs every thread as a Python thread (a 256-thread block costs ~1 s there)
CUDA_TILE = 4 if CUDA_SIMULATOR else 16
#: largest hidden size of the persistent path, which keeps a sequence's state on chip for all steps
CUDA_MAX_PERSISTENT_HIDDEN = 256
CUDA_MAX_PERSISTENT_GATE_UNITS = 4 * CUDA_MAX_PERSISTENT_HIDDEN
#: recurrent weights (G*H*H values) up to this size are held in shared memory by the persistent
#: kernels for the whole sequence (LSTM H <= 32, RNN H <= 64); with the state buffers this stays within
#: the 48 KB of static shared memory per block in float64 too (8 * (4096 + 256 + 1024) bytes = 42 KB)
CUDA_MAX_SHARED_WEIGHTS = 4096
