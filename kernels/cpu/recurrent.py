"""CPU time loops of one recurrent layer, shared by every cell.

One layer, one direction, a batch of sequences, time-major contiguous arrays. The structure keeps
every product small and every pass over data still in cache, which is what runs fast with Numba on a
few cores:

- each step runs in blocks of rows: the block's input projection, its recurrent product (both into
  preallocated buffers) and the cell's fused pointwise step, the products in blocks of rows and, for
  large weights, slabs of columns sized for OpenBLAS's small-matrix path (:func:`product_plan`), the
  latter slab by slab over all of the thread's running rows at once (:func:`slab_product`); the weight
  operands are rearranged once per call (:func:`column_slabs`: ``W_ih`` and ``W_hh`` transposed for the
  forward pass) so that every product is a plain row-major one, and an inference pass takes them from
  :class:`ForwardOperandCache` while the weights are unchanged; nothing is allocated in the loop. The
  input projection is taken in the loop, per block (or per step with the slabs), not as one product for
  all steps before it, which would write and then re-read ``T*B*G*H`` values and need a second pass over
  the threads (the values are identical; measured on the 2-core development machine, the per-block
  projection was 3-13 % faster).
- the weight gradients are products over chunks of steps in the backward pass, taken as soon as a
  chunk's gate gradients are complete and still in cache: ``dW_ih += dG_x^T X`` and
  ``dW_hh += dG^T H_prev`` over the chunk's rows (:func:`backward_steps`).

Every array is allocated by the caller, so workspaces can be reused across batches. Both loops run
on a range of batch rows (``forward_steps``, ``backward_steps``), which :mod:`.threads` runs on
several cores, each range with its own weight-gradient arrays; ``layer_forward`` and
``layer_backward`` here run everything in the calling thread. The forward pass for inference is the
same loop with one step of ``gx`` and ``saved``, overwritten at every step.

The time loops are the compiled units; ``layer_forward`` and ``layer_backward``, the plans
(:func:`step_plan`, :func:`product_plan`) and the operands (:func:`column_slabs`,
:func:`projection_bias`) are plain Python and numpy around them: a compiled function that calls
other compiled functions gets their code linked into its own module and optimized again, which
about doubles the first compilation (measured on the 2-core development machine, a first fit: 25 s
with ``@njit`` wrappers, 13 s without), while a call from Python costs a few microseconds. Each loop
is compiled per cell, at the first pass of a layer of that cell (:class:`~fastrnn.kernels.cells.per_cell.PerCell`:
``forward_steps(kind, ...)`` calls the loop compiled for ``kind``).

Variable lengths: ``n_active[t]`` is the number of sequences still running at step ``t``. The
sequences are sorted by decreasing length (the caller permutes the batch), so the running ones are
the leading rows and each step works on a contiguous prefix: the recurrent product and the cell step
cost what the running sequences cost, as with PyTorch's packed sequences. A finished sequence's state
is carried forward unchanged, so row ``b`` of ``h[T]`` is its state after its own last step, and its
padded steps get no gradient.
"""

import functools
import math
import threading
import weakref

import numpy as np
from numba import njit

from .. import cells, config
from ..cache import drop_stale_cache, package_files
from ..cells import GRU, N_GATES, backward_step, forward_step, recurrent_bias_block
from ..config import (INLINE_OPTIONS, JIT_OPTIONS, MAX_SLAB_ROWS, MAX_SLAB_WIDTH, MIN_BLOCK_ROWS, MIN_CHUNK_ROWS,
                      MIN_SLAB_WIDTH, SMALL_PRODUCT_LIMIT)
from . import denormals, spin, vector
from .denormals import flush_subnormals, restore_float_mode
from .spin import count_up
from ..cells.per_cell import PerCell
from .vector import add_to, copy_into

drop_stale_cache(__file__, [*package_files(cells.__file__), config.__file__, vector.__file__, denormals.__file__,
                            spin.__file__])


def projection_bias(kind, b_ih, b_hh):
    """The bias added to the input projections: ``b_ih + b_hh``, but ``b_ih`` alone in the columns whose
    ``b_hh`` goes to the recurrent product instead (:func:`fastrnn.kernels.cells.gru.recurrent_bias_block`:
    the GRU's n block). ``b_ih, b_hh: (G*H,)``; returns a new (G*H,) array. Plain numpy, called from
    Python once per pass (and by :mod:`.stream`)."""
    bias = b_ih + b_hh
    start, stop = recurrent_bias_block.py_func(kind, b_ih.shape[0] // N_GATES[kind])
    bias[start:stop] = b_ih[start:stop]
    return bias


def _forward_loop(kind):
    """The forward time loop compiled for the cell ``kind`` (see :data:`forward_steps`)."""

    @njit(**JIT_OPTIONS)
    def forward_cell_steps(x, w_ih_slabs, bias, w_hh_slabs, b_hh, h, c, saved, gx, gh, n_active, row_start,
                           row_stop, block_rows, started):
        """The time loop of the forward pass for the batch rows ``row_start:row_stop``.

        Rows are independent sequences, so disjoint row ranges can run at the same time in different
        threads (each writes only its own rows of ``h``, ``c``, ``saved``, ``gx``, ``gh``). Each step runs
        in blocks of at most ``block_rows`` rows (:func:`step_plan`): the block's input projection
        ``x_t W_ih^T + bias``, its recurrent product and then its pointwise step. When a weight
        operand is cut into several slabs, the step's products are taken for all the range's running
        rows at once, slab by slab (:func:`slab_product`), before the blocks' pointwise steps.

        ``w_ih_slabs: (S_x, D, G*H/S_x)`` and ``w_hh_slabs: (S, H, G*H/S)`` are ``W_ih^T`` and ``W_hh^T``
        cut into column slabs (:func:`column_slabs` with ``transpose=True``; one slab, the transposed
        matrix itself, for small weights); ``bias: (G*H,)`` from :func:`projection_bias`. ``gx`` and
        ``saved`` hold every step, ``(T, B, .)`` (training: BPTT reads ``saved`` and reuses ``gx``), or
        one step, ``(1, B, .)``, overwritten at every step (inference: nothing kept). ``started: (1,)
        int64`` is counted up first thing (:func:`~fastrnn.kernels.cpu.spin.count_up`): the thread that
        handed this range to a worker spins on it (:mod:`.team`). The other arguments as in
        :func:`layer_forward`.
        """
        count_up(started)
        float_mode = flush_subnormals()  # subnormals are zero inside the loop (see .denormals)
        n_steps = h.shape[0] - 1
        hidden = h.shape[2]
        # The GRU's b_hn (cells.gru.recurrent_bias_block: its n block 2H:3H) goes to the recurrent
        # product. Written with the literal block, not by calling that function: with the block's bounds
        # as run-time values this loop ran 10-15 % slower for every cell (LSTM forward at batch 8, hidden
        # 64, measured on a 2-core Intel Xeon VM); tests/test_cells.py checks the two agree.
        gru = kind == GRU
        b_hn = b_hh[2 * hidden:]
        slab_out = np.empty((block_rows, w_hh_slabs.shape[2]), h.dtype)
        slab_out_x = np.empty((block_rows, w_ih_slabs.shape[2]), h.dtype)
        # rows per group: one block, or all of the range's rows when a product goes slab by slab
        by_slabs = w_ih_slabs.shape[0] > 1 or w_hh_slabs.shape[0] > 1
        group_rows = max(1, row_stop - row_start) if by_slabs else block_rows
        for t in range(n_steps):
            step = t if saved.shape[0] == n_steps else 0  # the step's row of gx and saved
            run_stop = min(row_stop, n_active[t])
            group_stop = row_start  # the rows whose products are taken, from the block that starts a group
            for block_start in range(row_start, run_stop, block_rows):
                if block_start == group_stop:
                    group = slice(block_start, min(block_start + group_rows, run_stop))
                    group_stop = group.stop
                    gx_group, gh_group = gx[step][group], gh[group]
                    slab_product(x[t][group], w_ih_slabs, gx_group, slab_out_x, block_rows)
                    for b in range(gx_group.shape[0]):
                        add_to(gx_group[b], bias)
                    slab_product(h[t][group], w_hh_slabs, gh_group, slab_out, block_rows)
                    if gru:
                        for b in range(gh_group.shape[0]):
                            add_to(gh_group[b][2 * hidden:], b_hn)
                rows = slice(block_start, min(block_start + block_rows, run_stop))
                forward_step(kind, gx[step][rows], gh[rows], h[t][rows], c[t][rows], h[t + 1][rows], c[t + 1][rows],
                             saved[step][rows])
            for b in range(max(run_stop, row_start), row_stop):  # finished sequences keep their state
                copy_into(h[t + 1][b], h[t][b])
                copy_into(c[t + 1][b], c[t][b])
        restore_float_mode(float_mode)

    return forward_cell_steps


#: ``forward_steps(kind, x, w_ih_slabs, bias, w_hh_slabs, b_hh, h, c, saved, gx, gh, n_active, row_start,
#: row_stop, block_rows, started)``: the forward time loop of the cell ``kind``, compiled at its first use
forward_steps = PerCell(_forward_loop)


@njit(**JIT_OPTIONS)
def slab_product(a, slabs, out, slab_out, block_rows):
    """``out = a @ B`` for ``B`` held as column slabs, in products of at most ``block_rows`` rows of
    ``a`` (the last block shorter) by one slab each.

    ``a: (r, K)``; ``slabs: (S, K, w)`` with ``slabs[s] = B[:, s*w:(s+1)*w]``; ``out: (r, S*w)``,
    written; ``slab_out: (>= min(r, block_rows), w)`` scratch (unused with one slab).

    The products go slab by slab: every block by slab 0, then every block by slab 1, and so on (with one
    block, the order of the slabs). Block by block instead, each block of rows would read the whole
    weight operand, which is cut into slabs only when it is large (:func:`product_plan`: over 250,000
    weights, about 1 MiB in float32), and read it from memory again when it does not fit in a core's
    cache; slab by slab, each slab is read once and serves the other blocks from cache. The calls and
    their operands are the same in either order, so are the values, bit for bit. The time loops give it
    one block of rows, or, when an operand is in several slabs, all of a thread's running rows at the
    step (measured on a 2-core Intel Xeon VM with 2 MiB of L2 per core, whole passes, interleaved: an
    LSTM at batch 128, T=50, H=512, 4 MiB of ``W_hh^T``, trained an epoch of 4 batches in 0.84-0.92 s
    against 1.17-1.33 s block by block, and predicted in 62-67 ms against 98-124; at batch 64, T=100,
    H=256, 1 MiB, in 251-268 ms against 260-277 and 21.5-25.0 ms against 23.6-26.6).

    Compiled on its own, not inlined: the loops call it at three sites, and Numba copies and
    types an inlined function at every one (see the architecture page); a call per block of rows
    costs nothing next to its products.
    """
    n_slabs, _, width = slabs.shape
    n_rows = a.shape[0]
    for s in range(n_slabs):
        for start in range(0, n_rows, block_rows):
            stop = min(start + block_rows, n_rows)
            # with one slab, the block's product goes straight to its rows of out
            part = out[start:stop] if n_slabs == 1 else slab_out[:stop - start]
            np.dot(a[start:stop], slabs[s], part)
            if n_slabs > 1:
                for r in range(stop - start):
                    copy_into(out[start + r][s * width:(s + 1) * width], part[r])


def slab_width(n_cols):
    """The widest divisor of ``n_cols`` from :data:`MAX_SLAB_WIDTH` down to :data:`MIN_SLAB_WIDTH`,
    or 0 when there is none (then the columns are not cut)."""
    for width in range(MAX_SLAB_WIDTH, MIN_SLAB_WIDTH - 1, -1):
        if n_cols % width == 0 and n_cols > width:
            return width
    return 0


@functools.lru_cache(maxsize=1024)
def product_plan(n_rows, n_inner, n_cols):
    """How the per-step products ``(n_rows, n_inner) @ (n_inner, n_cols)`` are cut: returns
    ``(block_rows, slab_cols)``, rows per call and columns per slab of the weight operand.

    scipy's OpenBLAS (0.3.30, the kernels Numba calls) runs products of at most
    :data:`SMALL_PRODUCT_LIMIT` multiply-adds through a small-matrix kernel that skips packing the
    weights; larger ones pack the whole weight operand at every call, so a large product runs faster
    as small ones over column slabs (measured on the 2-core development machine, one thread: 8x128 by
    128x512 at 111 GFLOP/s, 16x128 by 128x512 at 53 on the general path; 32x256 by 256x1024 at ~70 in
    one call, ~105 in slabs of 64 columns by 8 rows; the same for the backward pass's (rows, 4H) by
    (4H, H)). So:

    - when a block of at least :data:`MIN_BLOCK_ROWS` rows by all columns fits under that size, the
      rows are cut into such blocks (``slab_cols == n_cols``), as even as they come (:func:`even_blocks`);
    - else, when the columns split into slabs (:func:`slab_width`) and at least ``MIN_BLOCK_ROWS``
      rows by one slab fit, into blocks of at most :data:`MAX_SLAB_ROWS` rows by slabs, as many rows as
      fit rounded down to a multiple of ``MIN_BLOCK_ROWS``: the small kernel runs such blocks faster
      (one thread, 64x2048 by 2048x512 in slabs of 64 columns, the backward product of an LSTM at
      H=512: 134-141 GFLOP/s in blocks of 4 rows, 124-126 of 6, 108-110 of 7, the most that fit);
    - else (fewer than ``MIN_BLOCK_ROWS`` rows, where the small kernel is slower than the general one,
      or a very long inner dimension) all ``n_rows`` go in one call.

    The plans are plain Python on integers, called once per pass and remembered (``lru_cache``): as
    ``@njit`` functions they cost about half a second of compilation in a new process for nothing.
    """
    rows = SMALL_PRODUCT_LIMIT // (n_inner * n_cols)
    if rows >= MIN_BLOCK_ROWS:
        return even_blocks(n_rows, rows), n_cols
    width = slab_width(n_cols)
    if n_rows >= MIN_BLOCK_ROWS and width > 0:
        rows = min(MAX_SLAB_ROWS, SMALL_PRODUCT_LIMIT // (n_inner * width)) // MIN_BLOCK_ROWS * MIN_BLOCK_ROWS
        if rows >= MIN_BLOCK_ROWS:
            return even_blocks(n_rows, rows), width
    return max(n_rows, 1), n_cols


def even_blocks(n_rows, most_rows):
    """Rows per block when ``n_rows`` rows are cut into the fewest blocks of at most ``most_rows``,
    as even as they come (16 rows by at most 15: 8 and 8, not 15 and 1), since a block costs about
    what a full one costs (measured on the 2-core development machine: an LSTM forward pass of 16 rows
    at hidden 128 cut 15 + 1 took 2.5 times as long as one of 8 rows)."""
    n_blocks = max(1, -(-n_rows // most_rows))
    return max(1, -(-n_rows // n_blocks))


def column_slabs(w, transpose, width):
    """The weight operand ``B`` of the per-step products cut into contiguous column slabs:
    ``out[s] = B[:, s*width:(s+1)*width]``, ``out: (N/width, K, width)``, with ``B = w.T``
    (``transpose``, the forward pass's ``W_hh^T``) or ``B = w`` (the backward pass's ``W_hh``).
    ``width`` divides N; ``width == N`` gives one slab, the whole (transposed) matrix; an untransposed
    C-contiguous ``w`` in one slab is ``w`` itself (a view, no copy). The copies start at a multiple
    of :data:`OPERAND_ALIGNMENT` bytes (:func:`aligned_empty`).

    numpy's strided copies, not a compiled loop: measured on the 2-core development machine against
    the ``@njit`` loop they replaced, level for one slab (``W_hh^T`` at H=64: ~12 us) and 4.7x faster
    for the slabs of ``W_hh^T`` at H=256 (142 against 664 us).
    """
    if transpose:
        n_cols, n_inner = w.shape
        # slab s, column j is row s*width + j of w
        source = w.T if width == n_cols else w.reshape(n_cols // width, width, n_inner).transpose(0, 2, 1)
    else:
        n_inner, n_cols = w.shape
        if width == n_cols and w.flags.c_contiguous:
            return w.reshape(1, n_inner, n_cols)
        source = w if width == n_cols else w.reshape(n_inner, n_cols // width, width).transpose(1, 0, 2)
    out = aligned_empty((n_cols // width, n_inner, width), w.dtype)
    np.copyto(out.reshape(source.shape), source)
    return out


#: bytes to whose multiples the weight operands of the products are aligned. OpenBLAS's small-matrix
#: kernels read the weight operand in 64-byte vectors: one that starts 16 bytes past such a boundary
#: made the LSTM time loops 10-25 % slower (measured on the 2-core development machine, forward at batch
#: 1, 8 and 16, hidden 64 and 128, and backward at batch 1 and 16), and numpy aligns its arrays to 16
#: bytes only. The other arrays' alignment did not matter (within 3 %), nor does any alignment change
#: a result.
OPERAND_ALIGNMENT = 64


def aligned_empty(shape, dtype, alignment=OPERAND_ALIGNMENT):
    """An uninitialized C-contiguous array whose data starts at a multiple of ``alignment`` bytes."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = np.empty(nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


def aligned(w):
    """``w`` when it is C-contiguous and starts at a multiple of :data:`OPERAND_ALIGNMENT` bytes,
    else such a copy of it."""
    if w.flags.c_contiguous and w.ctypes.data % OPERAND_ALIGNMENT == 0:
        return w
    out = aligned_empty(w.shape, w.dtype)
    np.copyto(out, w)
    return out


@njit(**INLINE_OPTIONS)
def _bits_differ(a, b):
    """Whether C-contiguous arrays ``a`` and ``b`` differ in size or in any bit (compared as 32-bit
    words: exact for either float type; NaNs and signed zeros compare as the bits they are)."""
    if a.size != b.size:
        return True
    a_words = a.reshape(a.size).view(np.uint32)
    b_words = b.reshape(b.size).view(np.uint32)
    differ = np.uint32(0)
    for i in range(a_words.size):  # no early exit: the loop vectorizes
        differ |= a_words[i] ^ b_words[i]
    return differ != 0


@njit(**JIT_OPTIONS)
def same_weights(w_ih, w_hh, b_ih, b_hh, c_ih, c_hh, c_b_ih, c_b_hh):
    """Whether a layer's four weight arrays hold exactly the bits of the copies ``c_*`` (one call for
    the four: ~3 us for an LSTM at H=64, against ~13 us for four ``np.array_equal``, which would also
    take -0.0 for 0.0; measured on the 2-core development machine)."""
    return not (_bits_differ(w_ih, c_ih) or _bits_differ(w_hh, c_hh) or _bits_differ(b_ih, c_b_ih)
                or _bits_differ(b_hh, c_b_hh))


@njit(**JIT_OPTIONS)
def same_bits(a, copy):
    """Whether the C-contiguous array ``a`` holds exactly the bits of ``copy``."""
    return not _bits_differ(a, copy)


class DerivedArrayCache:
    """Arrays derived from weights (prepared operands, packed networks), kept for the last few weight
    sets, for inference, which runs over unchanged weights again and again.

    An entry is found by the identity of the weight arrays (with a key naming what was derived) and
    used only after checking, bit for bit, that they still hold the values it was made from (against
    copies kept in the entry; what is derived is made from those copies), so it is never stale
    whoever changed the weights, in place or not: a training step, a ``load_state_dict``, a user
    writing to a parameter view. An entry holds the arrays only weakly and lets go of its copies and
    derived arrays when one of them goes; at most ``max_entries`` entries of at most ``max_bytes`` in
    all are kept, the least recently used dropped first (what is too large for the bound is derived
    at every call). Safe to use from several threads.

    Training passes do not use it: their weights change at every step, so the check would only add
    its cost.
    """

    def __init__(self, max_entries=8, max_bytes=64 << 20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries = {}  # key -> _CacheEntry, least recently used first
        self._lock = threading.Lock()  # only around changes of _entries (weakref callbacks never take it)

    def __len__(self):
        """Entries whose weights are still alive."""
        return sum(entry.payload is not None for entry in list(self._entries.values()))

    @property
    def nbytes(self):
        """Bytes held by the entries (the copies and the derived arrays)."""
        return sum(entry.nbytes for entry in list(self._entries.values()) if entry.payload is not None)

    def clear(self):
        with self._lock:
            self._entries.clear()

    def derived(self, key, arrays, build, same):
        """``build(copies)`` of the C-contiguous ``arrays``: the cached result when the arrays and their
        values are those of an entry made under ``key``, else made now (and kept).

        ``build(copies)`` returns a tuple of arrays made from copies of ``arrays``; ``same(arrays,
        copies)`` tells whether ``arrays`` hold the bits of ``copies``."""
        key = (key, *(id(a) for a in arrays), *(a.shape for a in arrays), *(a.dtype for a in arrays))
        entry = self._entries.get(key)
        payload = None if entry is None else entry.payload  # read once: a callback may clear it
        if payload is not None and same(arrays, payload[0]):
            with self._lock:
                if self._entries.get(key) is entry:  # now the most recently used: to the end
                    del self._entries[key]
                    self._entries[key] = entry
            return payload[1]
        copies = tuple(np.array(a, copy=True, order="C") for a in arrays)
        result = build(copies)
        nbytes = sum(a.nbytes for a in copies + tuple(result))
        if nbytes <= self.max_bytes:
            self._store(key, _CacheEntry((copies, result), nbytes), arrays)
        return result

    def _store(self, key, entry, weights):
        entry_ref = weakref.ref(entry)

        def release(_):  # one of the weights is gone: so are the copies and operands (the key goes later)
            gone = entry_ref()
            if gone is not None:
                gone.payload = None

        entry.refs = tuple(weakref.ref(a, release) for a in weights)
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = entry
            for old in [k for k, e in self._entries.items() if e.payload is None]:
                del self._entries[old]
            total = sum(e.nbytes for e in self._entries.values())
            while len(self._entries) > self.max_entries or total > self.max_bytes:
                total -= self._entries.pop(next(iter(self._entries))).nbytes


class ForwardOperandCache(DerivedArrayCache):
    """The forward operands of the last few weight sets (:func:`forward_operands` but ``block_rows``),
    for inference passes. Preparing them (``W_ih^T``, ``W_hh^T`` and the projection bias, copies) cost
    about a sixth of a single-sequence LSTM prediction (~16 of ~100 us at T=100, H=64, measured on the
    2-core development machine); a cached entry is checked by :func:`same_weights`, one compiled call
    for the layer's four arrays."""

    def get(self, kind, weights, width_x, width_h):
        """``(w_ih_slabs, bias, w_hh_slabs)`` of ``weights`` (:class:`~fastrnn.kernels.buffers.LayerWeights`,
        C-contiguous) cut into slabs of ``width_x`` and ``width_h`` columns."""
        def build(copies):
            c_ih, c_hh, c_b_ih, c_b_hh = copies
            return (column_slabs(c_ih, True, width_x), projection_bias(kind, c_b_ih, c_b_hh),
                    column_slabs(c_hh, True, width_h))

        return self.derived((kind, width_x, width_h), tuple(weights), build,
                            lambda arrays, copies: same_weights(*arrays, *copies))


class _CacheEntry:
    """``payload``: ``(copies of the four weights, operands)``, None once the weights are gone."""

    __slots__ = ("payload", "nbytes", "refs", "__weakref__")

    def __init__(self, payload, nbytes):
        self.payload, self.nbytes, self.refs = payload, nbytes, ()


#: the operands of the inference passes (:func:`inference_operands`)
FORWARD_OPERANDS = ForwardOperandCache()


def inference_operands(kind, weights, n_rows):
    """:func:`forward_operands` for an inference pass: from :data:`FORWARD_OPERANDS` when the weights
    are those of a cached entry (non-contiguous weights are prepared afresh)."""
    w_ih, w_hh, b_ih, b_hh = weights
    n_gate_units, hidden = w_hh.shape
    block_rows, width_h, width_x = step_plan(n_rows, w_ih.shape[1], hidden, n_gate_units)
    if not (w_ih.flags.c_contiguous and w_hh.flags.c_contiguous and b_ih.flags.c_contiguous
            and b_hh.flags.c_contiguous):
        return forward_operands(kind, weights, n_rows)
    return FORWARD_OPERANDS.get(kind, weights, width_x, width_h) + (block_rows,)


def layer_forward(kind, x, weights, buffers, n_active):
    """Run one recurrent layer forward over a batch of sequences (all rows in this thread).

    Parameters
    ----------
    kind : int
        Cell code from :data:`fastrnn.kernels.cells.CELL_CODES`.
    x : (T, B, D) array
        Input sequence, time-major, C-contiguous.
    weights : LayerWeights
        The layer's parameters (:mod:`fastrnn.kernels.buffers`).
    buffers : ForwardBuffers
        ``h[0]`` (and ``c[0]``) the initial state on entry; written: every step's states and, for
        training, every step's activations (with one step of ``saved`` and ``gx``: inference, each
        step's overwritten by the next).
    n_active : (T,) int64 array
        Sequences running at each step, non-increasing; all ``B`` for equal lengths. Rows at and
        beyond ``n_active[t]`` copy their state from step t-1 (see the module docstring).
    """
    n_batch = x.shape[1]
    prepare = forward_operands if buffers.for_backward else inference_operands
    w_ih_slabs, bias, w_hh_slabs, block_rows = prepare(kind, weights, n_batch)
    h, c, saved, gx, gh = buffers
    forward_steps(kind, x, w_ih_slabs, bias, w_hh_slabs, weights.b_hh, h, c, saved, gx, gh, n_active, 0, n_batch,
                  block_rows, np.zeros(1, np.int64))


def forward_operands(kind, weights, n_rows):
    """What :func:`forward_steps` takes besides the pass's arrays, for ``n_rows`` batch rows per
    thread: ``(w_ih_slabs, bias, w_hh_slabs, block_rows)`` (:func:`step_plan`, :func:`column_slabs`,
    :func:`projection_bias`)."""
    w_ih, w_hh, b_ih, b_hh = weights
    n_gate_units, hidden = w_hh.shape
    block_rows, width_h, width_x = step_plan(n_rows, w_ih.shape[1], hidden, n_gate_units)
    return (column_slabs(w_ih, True, width_x), projection_bias(kind, b_ih, b_hh), column_slabs(w_hh, True, width_h),
            block_rows)


def backward_operands(w_hh, n_rows):
    """What :func:`backward_steps` takes besides the pass's arrays, for ``n_rows`` batch rows per
    thread: ``(w_hh_slabs, block_rows, chunk_rows)`` (:func:`product_plan`, :func:`column_slabs`,
    :func:`chunk_rows`); ``W_hh`` is copied when it is not aligned (:data:`OPERAND_ALIGNMENT`)."""
    n_gate_units, hidden = w_hh.shape
    block_rows, width = product_plan(n_rows, n_gate_units, hidden)
    return column_slabs(aligned(w_hh), False, width), block_rows, chunk_rows(hidden)


def chunk_rows(hidden):
    """Fewest step rows (steps times the thread's batch rows) in each chunk of the backward pass
    whose weight gradients are taken at once (:func:`backward_steps`): :data:`MIN_CHUNK_ROWS`, or
    ``hidden`` when larger, so that the chunk's gate gradients (rows by G*H) outweigh the G*H
    gradient values each chunk adds to (measured on the 2-core development machine, the LSTM's
    backward pass at hidden 512, 64 rows per thread: chunks of 128 rows 5-12 % slower than one
    product after the loop, chunks of 512 rows level with it)."""
    return max(MIN_CHUNK_ROWS, hidden)


@functools.lru_cache(maxsize=1024)
def step_plan(n_rows, n_in, hidden, n_gate_units):
    """``(block_rows, recurrent slab width, input slab width)`` of the forward loop, whose blocks
    run both products of a step (:func:`product_plan` for each; the smaller block)."""
    rows_h, width_h = product_plan(n_rows, hidden, n_gate_units)
    rows_x, width_x = product_plan(n_rows, n_in, n_gate_units)
    return min(rows_h, rows_x), width_h, width_x


def _backward_loop(kind):
    """The backward time loop compiled for the cell ``kind`` (see :data:`backward_steps`)."""

    @njit(**JIT_OPTIONS)
    def backward_cell_steps(x, w_ih, w_hh_slabs, h, c, saved, d_out, dh, dc, d_gates, d_gates_x, dx, dw_ih,
                            dw_hh, db_ih, db_hh, n_active, row_start, row_stop, block_rows, min_chunk_rows, started):
        """The backward pass for the batch rows ``row_start:row_stop``: the BPTT time loop and the
        gradients of those rows with respect to the weights, the biases and the input.

        The loop runs in blocks of at most ``block_rows`` rows as in :func:`forward_steps` (with the
        product ``dh_{t-1} = dG W_hh`` taken for all the step's running rows after their pointwise
        steps when ``W_hh`` is in several slabs). The steps
        go in chunks of at least ``min_chunk_rows`` step rows (:func:`chunk_rows`), newest first; the
        chunk's gate gradients are kept, rows of one step after another, in this range's own share of
        the ``d_gates`` workspace (rows ``T*row_start`` on of its ``(T*B, G*H)`` view), and at the end of
        each chunk, while they are still in cache, go into the products
        ``dW_ih += dG_x^T X``, ``dW_hh += dG^T H_prev``, ``dX = dG_x W_ih`` and the bias sums (the
        chunk's rows of ``X`` and ``H_prev`` are copied next to them): one product over all ``T*B`` rows
        after the loop would read back gate gradients already written out to memory (measured on the
        2-core development machine, one thread, LSTM, hidden 128, 3200 rows: 55-75 GFLOP/s against ~95
        for the chunks).

        Each range writes only its own rows of ``dh``, ``dc``, ``dx`` and its share of the workspaces,
        so disjoint ranges can run at the same time in different threads, each with its own
        ``dw_ih, dw_hh, db_ih, db_hh`` (written, not added to; :mod:`.threads` sums them).

        ``w_hh_slabs: (S, G*H, H/S)`` is ``W_hh`` cut into column slabs (:func:`column_slabs` with
        ``transpose=False``); ``d_gates`` and ``d_gates_x``: workspaces, their contents on exit
        unspecified; the other arguments as in :func:`layer_backward`.
        """
        count_up(started)
        float_mode = flush_subnormals()  # the state gradients decay through subnormals (see .denormals)
        n_steps, n_batch, n_in = x.shape
        n_gate_units, hidden = w_hh_slabs.shape[1], h.shape[2]
        gru = kind == GRU
        n_rows = row_stop - row_start
        chunk_steps = min(n_steps, max(1, -(-min_chunk_rows // max(n_rows, 1))))
        first_row = n_steps * row_start  # this range's share of the workspaces: n_steps * n_rows rows
        share = slice(first_row, first_row + chunk_steps * n_rows)
        d_gate_rows = d_gates.reshape(n_steps * n_batch, n_gate_units)[share]  # (chunk rows, G*H)
        d_input_gate_rows = d_gates_x.reshape(n_steps * n_batch, n_gate_units)[share]
        h_rows = np.empty((chunk_steps * n_rows, hidden), h.dtype)
        x_rows = np.empty((chunk_steps * n_rows, n_in), x.dtype)
        dx_rows = np.empty((chunk_steps * n_rows, n_in), x.dtype)
        chunk_dw_ih, chunk_dw_hh = np.empty_like(dw_ih), np.empty_like(dw_hh)
        slab_out = np.empty((block_rows, w_hh_slabs.shape[2]), dh.dtype)
        group_rows = max(1, n_rows) if w_hh_slabs.shape[0] > 1 else block_rows  # as in the forward loop
        for j in range(n_gate_units):
            db_ih[j] = 0.0
            db_hh[j] = 0.0
        for chunk_stop in range(n_steps, 0, -chunk_steps):
            chunk_start = max(0, chunk_stop - chunk_steps)
            for t in range(chunk_stop - 1, chunk_start - 1, -1):
                offset = (t - chunk_start) * n_rows - row_start  # row b of step t is chunk row offset + b
                run_stop = min(row_stop, n_active[t])
                for group_start in range(row_start, run_stop, group_rows):
                    group_stop = min(group_start + group_rows, run_stop)
                    for block_start in range(group_start, group_stop, block_rows):
                        block_stop = min(block_start + block_rows, group_stop)
                        rows = slice(block_start, block_stop)
                        chunk_block = slice(offset + block_start, offset + block_stop)
                        backward_step(kind, d_out[t][rows], dh[rows], dc[rows], h[t][rows], c[t][rows],
                                      h[t + 1][rows], saved[t][rows], d_gate_rows[chunk_block],
                                      d_input_gate_rows[chunk_block])
                    slab_product(d_gate_rows[offset + group_start:offset + group_stop], w_hh_slabs,
                                 dh[group_start:group_stop], slab_out, block_rows)
                    if gru:
                        for b in range(group_start, group_stop):
                            add_to(dh[b], dc[b])
                for b in range(max(run_stop, row_start), row_stop):  # padded steps: the state passed through unchanged
                    d_gate_rows[offset + b] = 0.0
                    d_input_gate_rows[offset + b] = 0.0
                for b in range(row_start, row_stop):
                    copy_into(h_rows[offset + b], h[t][b])
                    copy_into(x_rows[offset + b], x[t][b])
            n_chunk_rows = (chunk_stop - chunk_start) * n_rows
            add_chunk_gradients(d_input_gate_rows[:n_chunk_rows], x_rows[:n_chunk_rows], dw_ih, chunk_dw_ih,
                                chunk_stop == n_steps)
            add_chunk_gradients(d_gate_rows[:n_chunk_rows], h_rows[:n_chunk_rows], dw_hh, chunk_dw_hh,
                                chunk_stop == n_steps)
            for r in range(n_chunk_rows):
                add_to(db_hh, d_gate_rows[r])
                if gru:  # the other cells' two bias gradients are the same sums (copied below)
                    add_to(db_ih, d_input_gate_rows[r])
            if dx is not None:
                np.dot(d_input_gate_rows[:n_chunk_rows], w_ih, dx_rows[:n_chunk_rows])
                for t in range(chunk_start, chunk_stop):
                    offset = (t - chunk_start) * n_rows - row_start
                    for b in range(row_start, row_stop):
                        copy_into(dx[t][b], dx_rows[offset + b])
        if not gru:
            copy_into(db_ih, db_hh)
        restore_float_mode(float_mode)

    return backward_cell_steps


#: ``backward_steps(kind, x, w_ih, w_hh_slabs, h, c, saved, d_out, dh, dc, d_gates, d_gates_x, dx, dw_ih,
#: dw_hh, db_ih, db_hh, n_active, row_start, row_stop, block_rows, min_chunk_rows, started)``: the backward time loop
#: of the cell ``kind``, compiled at its first use
backward_steps = PerCell(_backward_loop)


@njit(**JIT_OPTIONS)
def add_chunk_gradients(d_gate_rows, input_rows, total, scratch, first):
    """``total += d_gate_rows^T input_rows`` (``total =`` for the ``first`` chunk), by one product into
    ``scratch`` (numba's ``np.dot`` overwrites its output). ``d_gate_rows: (n, G*H)``,
    ``input_rows: (n, K)``, ``total, scratch: (G*H, K)``. Compiled on its own, as :func:`slab_product`."""
    if first:
        np.dot(d_gate_rows.T, input_rows, total)
        return
    np.dot(d_gate_rows.T, input_rows, scratch)
    for j in range(total.shape[0]):
        add_to(total[j], scratch[j])


def layer_backward(kind, x, weights, forward, d_out, backward, grads, n_active):
    """Backpropagate through time over one layer, after :func:`layer_forward` (all rows in this thread).

    Parameters
    ----------
    kind : int
        Cell code.
    x : (T, B, D) array
        The input sequence given to the forward pass.
    weights : LayerWeights
        The layer's parameters.
    forward : ForwardBuffers
        As left by :func:`layer_forward` for training (every step kept).
    d_out : (T, B, H) array
        dL/dh_t from outside the recurrence at every step (zero where a step has no loss). Ignored
        at a finished sequence's padded steps, whose gate gradients (and so ``dx`` there) are zero.
    backward : BackwardBuffers
        ``dh`` (and the LSTM's ``dc``): dL/dh_T (dL/dc_T) on entry, dL/dh_0 (dL/dc_0) on exit;
        ``dx`` written (unless None); the gate-gradient workspaces.
    grads : LayerGrads
        Written: dL/d(parameters).
    n_active : (T,) int64 array
        As given to :func:`layer_forward`.
    """
    w_hh_slabs, block_rows, min_chunk_rows = backward_operands(weights.w_hh, x.shape[1])
    h, c, saved, _, _ = forward
    dh, dc, d_gates, d_gates_x, dx = backward
    backward_steps(kind, x, weights.w_ih, w_hh_slabs, h, c, saved, d_out, dh, dc, d_gates, d_gates_x, dx, *grads,
                   n_active, 0, x.shape[1], block_rows, min_chunk_rows, np.zeros(1, np.int64))
