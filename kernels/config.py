"""Every Numba option and every tuning knob of the kernels, in one place.

Kernels import ``JIT_OPTIONS`` (array loops), ``INLINE_OPTIONS`` (scalar and per-step helpers that
are inlined into the loops) and ``CUDA_JIT_OPTIONS`` (GPU kernels) instead of repeating flags, so a
change here reaches every kernel. Two kinds of knobs follow them:

- compile-time constants, which compiled code reads (imported by name into the kernel modules, which
  list this file as a cache dependency: see :mod:`.cache`); change them here, before import;
- values read at call time from this module (``config.NAME``) or, for the CPU's thread thresholds,
  from :mod:`.cpu.threads`' names, so that tests can patch them.

Choices:

- ``cache=True``: compiled kernels are written next to the sources and reused by the next process.
  Cell types are selected by an integer argument: Numba's cache cannot key a jitted function passed
  as an argument, so every process would compile afresh.
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

# ------------------------------------------------------------------------------------------ CPU
# Compile-time constants of cpu/recurrent.py's loops; products and plans: cpu.recurrent.product_plan.
#: products of at most this many multiply-adds take OpenBLAS's small-matrix kernel, which skips
#: packing the weight operand at every call (scipy's OpenBLAS 0.3.30, the one Numba calls)
SMALL_PRODUCT_LIMIT = 1_000_000
#: fewest rows per block a step's product is cut into: with fewer, the small-matrix kernel is slower
#: than the general one
MIN_BLOCK_ROWS = 4
#: widest and narrowest column slab of a weight operand too large for one small product (the widest
#: divisor of the columns is taken): narrow enough for the small-matrix kernel, wide enough for its lanes
MAX_SLAB_WIDTH = 64
MIN_SLAB_WIDTH = 32
#: most rows per block of a product by slabs: 8 rows by 64-column slabs is the shape product_plan measured fastest
MAX_SLAB_ROWS = 8
#: fewest step rows per chunk of the backward pass's weight-gradient products: shorter ones run below
#: the large-product rate (measured on the 2-core development machine: ~93 GFLOP/s at 128 rows, ~97 large)
MIN_CHUNK_ROWS = 128

#: SIMD width, in bits, that LLVM vectorizes the packed network's kernels for (cpu/stream.py, through
#: cpu/vector_width.py), 0 for LLVM's own choice (256 on processors with AVX-512): their matrix-vector
#: products from cache ran ~20 % faster 512 bits wide (a 64 x 256 float32 product: 0.46 against
#: 0.59 us on a 2-core Intel Xeon VM with AVX-512); the batched kernels, whose products OpenBLAS runs,
#: keep LLVM's choice. A compile-time constant.
PACKED_VECTOR_BITS = 512

#: most sequences whose inference runs through the packed network, one sequence after another
#: (cpu/stream.py: every layer and the head in one compiled call, products written out), rather
#: than the batched layer kernels: for so few rows OpenBLAS's small-matrix kernel does not pay
#: (see MIN_BLOCK_ROWS) and the per-layer calls from Python weigh most; read at call time
PACKED_INFERENCE_MAX_ROWS = 1

# Thresholds of cpu/threads.py (plain Python, read at call time through that module's names).
#: fewest batch rows a thread gets in the time loops: with fewer, the per-step overheads dominate
MIN_ROWS_PER_THREAD = 4
#: least work of a pass (multiply-adds, cpu.threads.pass_work) split over threads: waking a worker
#: thread costs tens of microseconds, so a split pays only beyond about half a millisecond of work
MIN_SPLIT_WORK = 20_000_000
#: cost of a cell's pointwise step per gate unit in multiply-adds of the products, for pass_work (measured
#: on the 2-core development machine: an LSTM step of 256 gate units ~0.2 us, products ~50 G multiply-adds/s)
POINTWISE_MULTIPLY_ADDS = 32

# Waits of cpu/team.py's worker threads (see that module): the three spins are turned into spin counts
# when the team starts; the other two are read at every pass.
#: how long a worker spins for its next task after one ends, before it blocks: long enough to span
#: the Python between the passes of a training batch and between predictions in a loop (a few hundred
#: microseconds at most on the 2-core development machine), short enough that an idle process leaves
#: the core to others within a millisecond; 0 blocks at once
WORKER_SPIN_SECONDS = 0.001
#: how long the caller of a split pass spins until a worker's time loop has started (a spinning worker
#: starts within a few microseconds), before it wakes a worker that may have gone to sleep
START_SPIN_SECONDS = 50e-6
#: how long the caller spins for a worker's share to end once its own has, before it sleeps (the shares
#: of a pass end within tens of microseconds of each other when both cores run them)
FINISH_SPIN_SECONDS = 0.0002
#: longest sleep between two looks at a worker's count after that spin: the worker wakes a sleeping caller
#: at once, except when its share ended just as the caller went to sleep
FINISH_POLL_SECONDS = 0.001
#: how long the threads do not spin after a handoff showed that they did not run side by side (read at
#: every split pass; see cpu/team.py)
CALM_SECONDS = 0.05

# ----------------------------------------------------------------------------------------- CUDA
#: options of every @cuda.jit kernel: compiled kernels are cached next to the sources, as on the CPU
CUDA_JIT_OPTIONS = dict(cache=True)

# Launch sizes, read at launch time (tests shrink CUDA_THREADS_PER_BLOCK so that multi-block and
# strided paths run in the simulator).
#: most threads per block of the recurrent kernels (persistent: a block per sequence; per-step: a
#: thread per (sequence, unit)); a multiple of the 32-thread warp
CUDA_THREADS_PER_BLOCK = 256
#: threads per block of the element-wise kernels (fill, gathers, clipping, optimizer updates): a
#: multiple of the warp, enough blocks in flight to hide memory latency
CUDA_ELEMENTWISE_THREADS = 256
#: threads per block of the column sums (bias gradients), a thread per column: columns are few (G*H)
CUDA_COLUMN_SUM_THREADS = 128
#: edge of the transpose's square blocks of threads (16 x 16 = 256 threads, a whole number of warps)
CUDA_TRANSPOSE_TILE = 16
#: most blocks of the gradient norm's reduction: the host adds one partial sum per block
CUDA_REDUCE_MAX_BLOCKS = 64
#: most blocks of the loss kernels' partial sums (threads then stride over the entries), which bounds
#: the one-block final sum
CUDA_LOSS_MAX_BLOCKS = 1024

# Compile-time constants (shapes of cuda.shared arrays must be module globals).
#: threads per block of the gradient norm's reduction, also its shared buffer's length: a power of
#: two, which the tree reduction in shared memory halves at each level
CUDA_REDUCE_THREADS = 256
#: shared-memory length of the loss kernels' block reductions: CUDA's limit of threads per block, so
#: that any launch size fits; launches use min(CUDA_THREADS_PER_BLOCK, this)
CUDA_LOSS_MAX_THREADS = 1024
#: whether numba runs CUDA kernels in its simulator (NUMBA_ENABLE_CUDASIM=1 before numba is imported)
CUDA_SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
#: edge of the square tiles of the shared-memory matrix product: 16 (blocks of 256 threads) on a GPU,
#: 4 in the simulator, which runs every thread as a Python thread (a 256-thread block costs ~1 s there)
CUDA_TILE = 4 if CUDA_SIMULATOR else 16
#: largest hidden size of the persistent path, which keeps a sequence's state on chip for all steps
CUDA_MAX_PERSISTENT_HIDDEN = 256
#: device="auto" runs a model on a usable GPU when one of its recurrent layers has at least this many
#: gate units (gates x hidden size: LSTM 4H, GRU 3H, RNN H), else on the CPU. On an H200 against 16
#: cores of its host's Xeon (benchmarks/gpu_vs_cpu.py), the GPU trained 1.1-4x faster at 768-2048
#: gate units (LSTM and GRU at hidden 256 and 512) and 0.05-0.73x as fast at 32-512 (every cell at
#: hidden 32-128, the Elman RNN at 256 and 512)
CUDA_AUTO_MIN_GATE_UNITS = 768
CUDA_MAX_PERSISTENT_GATE_UNITS = 4 * CUDA_MAX_PERSISTENT_HIDDEN
#: recurrent weights (G*H*H values) up to this size are held in shared memory by the persistent
#: kernels for the whole sequence (LSTM H <= 32, RNN H <= 64); with the state buffers this stays within
#: the 48 KB of static shared memory per block in float64 too (8 * (4096 + 256 + 1024) bytes = 42 KB)
CUDA_MAX_SHARED_WEIGHTS = 4096
