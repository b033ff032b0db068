"""The packed network: every layer and the head of a stacked network in one compiled call, for one
time step of streams (:func:`stream_step`) or for whole sequences (:func:`sequence_outputs`).

A stream (:class:`fastrnn.streaming.Stream`) feeds a model one step at a time, so the cost of a step
is what matters, and at small sizes it is mostly overhead: each call from Python into a compiled
function costs about half a microsecond (measured on a 2-core Intel Xeon VM with AVX-512, float32,
like the other figures here), about what a 64-unit LSTM's recurrent product costs. So a step is a
single ``@njit`` call, :func:`stream_step`, that runs all layers and the head with no allocation. The
prediction of a single sequence has the same problem over a whole sequence (OpenBLAS's products pay
from four rows on, and the Python between layers weighs as much as the loop):
:func:`sequence_outputs` runs it in one call, each layer over every step with the views of its
weights, states and gates made once per layer, then the head.

The step stays a kernel of its own though :func:`sequence_outputs` could run it as a sequence of one
step (states in and out) and spare each cell one compilation: that way a step took about 1 us more
(LSTM-64, one stream: 3.6-4.2 against 2.7-3.0 us, interleaved on the development machine), for the
extra arguments to unbox, the reshape of the input and a float64 copy of the outputs, which is most
of what a stream exists to avoid.

- the parameters are packed once (:func:`pack_network`; a stream when it is made, predictions
  through :func:`packed_network`'s cache) into one flat
  array: per layer ``W_ih^T`` (D, G*H) and ``W_hh^T`` (H, G*H), row-major, so that the products are
  sums of contiguous weight rows scaled by the inputs, which LLVM vectorizes; the input bias (the
  projection bias of the batched kernels, :func:`fastrnn.kernels.cpu.recurrent.projection_bias`) and
  the GRU's ``b_hn``; then the head's ``W`` (n_outputs, H) and ``b``, each block on a 64-byte
  boundary. An int64 table (``layout``) holds each block's offset and sizes, so any number of layers
  of any sizes go through one signature (no lists of arrays, which cost far more to pass in);
- the states of every layer live in one flat array, updated in place; the step's gate buffers in
  another (scratch);
- the pointwise math is the cells' row form (:func:`fastrnn.kernels.cells.forward_step`), the one the
  batched kernels use, with the same activations (float32: the fast rational tanh; float64: libm);
- the helpers that run once per layer (views, the head, the workspace's parts) are compiled on their
  own rather than inlined into each kernel, which Numba would type again at every call site (the
  first compilation of :func:`sequence_outputs` took 7.5 s with every helper inlined, 5.9 s with
  these and :func:`add_product` compiled on their own, development machine); :func:`add_product`
  and :func:`layer_step`, which run at every step, stay inlined (:func:`add_product` on its own made
  a single-sequence prediction about 4 % slower);
- the products are written out (:func:`add_product`): eight weight rows per pass over the output
  row, which loads and stores the accumulator once per eight multiply-adds instead of once per one
  (64 x 256 weights, 256 bits wide: 0.84 us, level with OpenBLAS's sgemv called from compiled code,
  against 1.2 us for one row per pass);
- both kernels are vectorized 512 bits wide where the processor has AVX-512
  (:func:`~fastrnn.kernels.cpu.vector_width.prefer_vector_width`), which LLVM does not do unasked:
  in a later run on the same machine, the same 64 x 256 product took 0.46 us 512 bits wide against
  0.59 us 256 bits wide, with every lane's value unchanged. Each stream runs
  alone, so a stream's values do not depend on how many streams run beside it (and n streams cost
  about n times one: ~1.1 us per stream at H=64; a product over all streams at once would be
  cheaper for many streams, but would tie a stream's rounding to their number).

The summation order differs from the batched kernels' BLAS products, so the values agree with the
batched layers' to rounding, not bitwise. Each function is compiled per cell, at its first use
(:class:`~fastrnn.kernels.cells.per_cell.PerCell`), and served from Numba's on-disk cache in every new
process.
"""

import math

import numpy as np
from numba import njit

from .. import cells, config
from ..cache import drop_stale_cache, package_files
from ..cells import GRU, HAS_CELL_STATE, N_GATES, N_SAVED, forward_step
from ..cells.per_cell import PerCell
from ..config import INLINE_OPTIONS, JIT_OPTIONS
from . import denormals, recurrent, vector, vector_width
from .denormals import flush_subnormals, restore_float_mode
from .recurrent import OPERAND_ALIGNMENT, DerivedArrayCache, aligned_empty, projection_bias, same_bits
from .vector import add_to, copy_into
from .vector_width import prefer_vector_width

drop_stale_cache(__file__, [*package_files(cells.__file__), config.__file__, vector.__file__, recurrent.__file__,
                            denormals.__file__, vector_width.__file__])

#: columns of the ``layout`` table: one row per recurrent layer, then one for the head
N_IN, HIDDEN, W_IH, W_HH, BIAS, B_HN, H_STATE, C_STATE = range(8)
# the head's row: N_IN (its input, the top layer's H), HIDDEN (its outputs), W_IH (W's offset), BIAS (b's)
LAYOUT_COLUMNS = 8


@njit(**INLINE_OPTIONS)
def add_product(v, w, out):
    """``out += v @ w`` for ``v: (K,)``, ``w: (K, N)`` C-contiguous, ``out: (N,)``.

    Eight rows of ``w`` per pass over ``out``: the pass is one vectorized loop over contiguous rows,
    and ``out`` is loaded and stored once per eight multiply-adds."""
    n_inner = w.shape[0]
    k = 0
    while k + 8 <= n_inner:
        a0, a1, a2, a3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        a4, a5, a6, a7 = v[k + 4], v[k + 5], v[k + 6], v[k + 7]
        r0, r1, r2, r3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        r4, r5, r6, r7 = w[k + 4], w[k + 5], w[k + 6], w[k + 7]
        for j in range(out.shape[0]):
            out[j] += (a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j]) + \
                      (a4 * r4[j] + a5 * r5[j] + a6 * r6[j] + a7 * r7[j])
        k += 8
    while k < n_inner:
        a = v[k]
        row = w[k]
        for j in range(out.shape[0]):
            out[j] += a * row[j]
        k += 1


@njit(**JIT_OPTIONS)
def layer_weights(kind, weights, layout, k):
    """Views of layer ``k``'s packed parameters: ``(W_ih^T (D, G*H), W_hh^T (H, G*H), bias (G*H,),
    b_hn (H,) for the GRU, else (0,))``."""
    n_in, hidden = layout[k, N_IN], layout[k, HIDDEN]
    n_gate_units = N_GATES[kind] * hidden
    w_ih = weights[layout[k, W_IH]:layout[k, W_IH] + n_in * n_gate_units].reshape(n_in, n_gate_units)
    w_hh = weights[layout[k, W_HH]:layout[k, W_HH] + hidden * n_gate_units].reshape(hidden, n_gate_units)
    bias = weights[layout[k, BIAS]:layout[k, BIAS] + n_gate_units]
    b_hn = weights[layout[k, B_HN]:layout[k, B_HN] + (hidden if kind == GRU else 0)]
    return w_ih, w_hh, bias, b_hn


@njit(**JIT_OPTIONS)
def layer_state(layout, state, n_streams, n_rows, k, has_cell_state):
    """Views ``(h, c)`` of the first ``n_rows`` streams' states of layer ``k`` in the flat ``state`` of
    ``n_streams`` streams: ``(n_rows, H_k)`` each, C-contiguous, so that the cell's passes over them
    vectorize (``c`` (n_rows, 0) without a cell state)."""
    hidden = layout[k, HIDDEN]
    h_start = layout[k, H_STATE] * n_streams
    h = state[h_start:h_start + n_rows * hidden].reshape(n_rows, hidden)
    c_size = hidden if has_cell_state else 0
    c_start = layout[k, C_STATE] * n_streams
    return h, state[c_start:c_start + n_rows * c_size].reshape(n_rows, c_size)


@njit(**JIT_OPTIONS)
def gate_buffers(kind, scratch, n_rows, hidden):
    """Views ``(gx, gh, saved)`` of the workspace for ``n_rows`` rows of a layer of ``hidden`` units:
    ``(n_rows, G*H)``, ``(n_rows, G*H)``, ``(n_rows, N_SAVED*H)``."""
    n_gate_units = N_GATES[kind] * hidden
    size = n_rows * n_gate_units
    saved_size = n_rows * N_SAVED[kind] * hidden
    return (scratch[:size].reshape(n_rows, n_gate_units), scratch[size:2 * size].reshape(n_rows, n_gate_units),
            scratch[2 * size:2 * size + saved_size].reshape(n_rows, N_SAVED[kind] * hidden))


@njit(**INLINE_OPTIONS)
def layer_step(kind, x, w_ih, w_hh, bias, b_hn, h, c, gx, gh, saved):
    """One step of one layer for the ``n = h.shape[0]`` rows: reads ``x[:n]`` (this step's inputs,
    ``(>= n, D)``), updates ``h`` and ``c`` (``(n, H)``) in place; ``gx``, ``gh``, ``saved``: its
    workspace (:func:`gate_buffers`); the weights from :func:`layer_weights`."""
    hidden = h.shape[1]
    for b in range(h.shape[0]):
        gx_row, gh_row = gx[b], gh[b]
        copy_into(gx_row, bias)  # gx = b + x W_ih^T (the GRU's b_hn goes to gh)
        add_product(x[b], w_ih, gx_row)
        for j in range(gh_row.shape[0]):
            gh_row[j] = 0
        add_product(h[b], w_hh, gh_row)
        if kind == GRU:
            add_to(gh_row[2 * hidden:], b_hn)
    # the new states overwrite the old ones: each unit reads its own previous value only
    forward_step(kind, gx, gh, h, c, h, c, saved)


@njit(**JIT_OPTIONS)
def apply_head(weights, layout, top, out):
    """``out = top @ W^T + b``, the head of the packed network: ``top: (n, H_top)``, ``out: (>= n, n_outputs)``
    (rows ``n`` on not written; written in ``out``'s dtype, summed in ``top``'s)."""
    head = layout[layout.shape[0] - 1]
    n_in, n_out = head[N_IN], head[HIDDEN]
    for o in range(n_out):
        w_row = weights[head[W_IH] + o * n_in:head[W_IH] + (o + 1) * n_in]
        b_o = weights[head[BIAS] + o]
        for b in range(top.shape[0]):
            row = top[b]
            total = row[0] * w_row[0]
            for j in range(1, n_in):
                total += row[j] * w_row[j]
            out[b, o] = total + b_o


def _stream_step(kind):
    """:data:`stream_step` compiled for the cell ``kind``."""

    @njit(**JIT_OPTIONS)
    def stream_cell_step(x, weights, layout, state, scratch, out):
        """Advance every stream by one step and write the head's outputs.

        Parameters
        ----------
        x : (B, D) array, C-contiguous, of the weights' dtype
            This step's inputs, one row per stream.
        weights : (P,) array
            The packed parameters (:func:`pack_network`).
        layout : (L + 1, 8) int64 array
            Offsets and sizes of the blocks of ``weights`` and ``state`` (:func:`pack_network`).
        state : (S,) array
            Every layer's ``h`` (B, H_k) and, for the LSTM, ``c`` (B, H_k), flat (:func:`network_buffers`):
            updated in place.
        scratch : array
            Workspace of the step's gates (:func:`network_buffers`).
        out : (B, n_outputs) float64 array
            Written: the head applied to the top layer's new ``h`` (computed in the weights' dtype).

        Returns
        -------
        bool
            False, with nothing changed, when ``x`` holds NaN or infinity; else True.
        """
        prefer_vector_width()  # 512-bit loops (see .vector_width)
        n_streams = x.shape[0]
        for b in range(n_streams):
            for d in range(x.shape[1]):
                if not math.isfinite(x[b, d]):
                    return False
        float_mode = flush_subnormals()  # as in the batched loops (see .denormals)
        layer_input = x
        for k in range(layout.shape[0] - 1):
            w_ih, w_hh, bias, b_hn = layer_weights(kind, weights, layout, k)
            h, c = layer_state(layout, state, n_streams, n_streams, k, HAS_CELL_STATE[kind])
            gx, gh, saved = gate_buffers(kind, scratch, n_streams, layout[k, HIDDEN])
            layer_step(kind, layer_input, w_ih, w_hh, bias, b_hn, h, c, gx, gh, saved)
            layer_input = h
        apply_head(weights, layout, layer_input, out)
        restore_float_mode(float_mode)
        return True

    return stream_cell_step


#: ``stream_step(kind, x, weights, layout, state, scratch, out)``: advance every stream by one step
#: (the compiled function of the cell ``kind``, compiled at its first use)
stream_step = PerCell(_stream_step)


def _sequence_outputs(kind):
    """:data:`sequence_outputs` compiled for the cell ``kind``."""

    @njit(**JIT_OPTIONS)
    def sequence_cell_outputs(x, n_active, weights, layout, initial_state, work, out, every_step):
        """Run the packed network over whole sequences, a layer at a time over every step.

        Parameters
        ----------
        x : (T, B, D) array, C-contiguous, of the weights' dtype
            The sequences, time-major, sorted by decreasing length.
        n_active : (T,) int64 array
            Sequences still running at each step (non-increasing): the first ``n_active[t]`` rows
            take step ``t``; the others keep their states.
        weights, layout : arrays
            The packed network (:func:`pack_network`).
        initial_state : (S,) or (0,) array
            The ``B`` streams' initial states, flat as :func:`network_state` lays them out
            (:func:`state_views`); empty: zeros.
        work : (>= :func:`sequence_work_size`,) array
            Workspace: the states, the gates and the lower layers' outputs at every step, each cut
            at a 64-byte boundary.
        out : (T, B, n_outputs) or (1, B, n_outputs) array
            Written: with ``every_step``, the head at every step (rows past a sequence's end not
            written); else, in ``out[0]``, the head on each sequence's final state.
        every_step : bool
        """
        prefer_vector_width()  # 512-bit loops (see .vector_width)
        float_mode = flush_subnormals()  # as in the batched loops (see .denormals)
        n_steps, n_streams = x.shape[0], x.shape[1]
        n_layers = layout.shape[0] - 1
        has_cell_state = HAS_CELL_STATE[kind]
        widest = layout[n_layers, C_STATE]
        state, end = aligned_part(work, 0, n_streams * layout[n_layers, H_STATE])
        scratch, end = aligned_part(work, end, n_streams * (2 * N_GATES[kind] + N_SAVED[kind]) * widest)
        lower_outputs = n_steps * n_streams * widest if n_layers > 1 else 0
        layer_steps_0, end = aligned_part(work, end, lower_outputs)
        layer_steps_1, end = aligned_part(work, end, lower_outputs)
        for i in range(state.shape[0]):
            state[i] = initial_state[i] if initial_state.shape[0] else 0
        layer_input = x
        h_top = state[:0].reshape(0, 0)  # the top layer's states, once it has run
        for k in range(n_layers):
            hidden = layout[k, HIDDEN]
            w_ih, w_hh, bias, b_hn = layer_weights(kind, weights, layout, k)
            # the views of every row, made once per layer (a view costs tens of nanoseconds, a step ~1 us)
            h_all, c_all = layer_state(layout, state, n_streams, n_streams, k, has_cell_state)
            gx_all, gh_all, saved_all = gate_buffers(kind, scratch, n_streams, hidden)
            kept_steps = n_steps if k < n_layers - 1 else 0  # the top layer's outputs go to the head only
            output = (layer_steps_0 if k % 2 == 0 else layer_steps_1)[:kept_steps * n_streams * hidden].reshape(
                kept_steps, n_streams, hidden)
            for t in range(n_steps):
                n = n_active[t]  # the running sequences: a prefix of the rows
                h, c, gx, gh, saved = h_all[:n], c_all[:n], gx_all[:n], gh_all[:n], saved_all[:n]
                layer_step(kind, layer_input[t], w_ih, w_hh, bias, b_hn, h, c, gx, gh, saved)
                if k < n_layers - 1:
                    for b in range(n_streams):  # a finished sequence's row carries its state
                        copy_into(output[t][b], h_all[b])
                elif every_step:
                    apply_head(weights, layout, h, out[t])
            layer_input = output
            h_top = h_all
        if not every_step:
            apply_head(weights, layout, h_top, out[0])
        restore_float_mode(float_mode)

    return sequence_cell_outputs


#: ``sequence_outputs(kind, x, n_active, weights, layout, initial_state, work, out, every_step)``: the
#: packed network over whole sequences (the compiled function of the cell ``kind``, compiled at its first use)
sequence_outputs = PerCell(_sequence_outputs)


def pack_network(kind, layers, head_weight, head_bias, dtype):
    """Pack a network's parameters for :func:`stream_step` and :func:`sequence_outputs`.

    The packed parameters are copies: later changes of the network's parameters do not reach them.

    Parameters
    ----------
    kind : int
        Cell code.
    layers : list of (w_ih, w_hh, b_ih, b_hh)
        Each layer's parameters, bottom first, PyTorch's shapes: ``(G*H, D)``, ``(G*H, H)``,
        ``(G*H,)``, ``(G*H,)``.
    head_weight, head_bias : (n_outputs, H_top), (n_outputs,) arrays
        The linear head on the top layer's state.
    dtype : float32 or float64
        Precision of the packed arrays (the network's).

    Returns
    -------
    weights : (P,) array
    layout : (L + 1, 8) int64 array
        Per layer: ``[D, H, W_ih^T offset, W_hh^T offset, bias offset, b_hn offset, h offset, c offset]``
        (``h`` and ``c`` offsets into the state, per stream: times the number of streams); the head:
        ``[H_top, n_outputs, W offset, 0, b offset, 0, state size per stream, widest H]``.
    """
    blocks, layout = [], np.zeros((len(layers) + 1, LAYOUT_COLUMNS), dtype=np.int64)
    size = state_size = 0
    block_items = OPERAND_ALIGNMENT // np.dtype(dtype).itemsize  # every block starts on a 64-byte boundary

    def place(array):
        nonlocal size
        flat = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
        start = size
        blocks.append((start, flat))
        size = start + -(-flat.size // block_items) * block_items
        return start

    for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
        hidden = w_hh.shape[1]
        b_ih, b_hh = (np.ascontiguousarray(b, dtype=dtype) for b in (b_ih, b_hh))
        row = layout[k]
        row[N_IN], row[HIDDEN] = w_ih.shape[1], hidden
        row[W_IH] = place(np.asarray(w_ih, dtype=dtype).T)
        row[W_HH] = place(np.asarray(w_hh, dtype=dtype).T)
        row[BIAS] = place(projection_bias(kind, b_ih, b_hh))
        row[B_HN] = place(b_hh[2 * hidden:3 * hidden] if kind == GRU else b_hh[:0])
        row[H_STATE] = state_size
        state_size += hidden
        row[C_STATE] = state_size
        if HAS_CELL_STATE[kind]:
            state_size += hidden
    head = layout[len(layers)]
    head[N_IN], head[HIDDEN] = head_weight.shape[1], head_weight.shape[0]
    head[W_IH] = place(head_weight)
    head[BIAS] = place(head_bias)
    head[H_STATE], head[C_STATE] = state_size, max(layout[k, HIDDEN] for k in range(len(layers)))
    weights = aligned_empty((size,), dtype)
    weights[:] = 0
    for start, flat in blocks:
        weights[start:start + flat.size] = flat
    return weights, layout


def network_state(layout, n_streams, dtype):
    """The flat states of ``n_streams`` streams of the packed network ``layout``, zeros
    (:func:`state_views` names them per layer)."""
    state = aligned_empty((n_streams * int(layout[-1, H_STATE]),), dtype)
    state.fill(0)
    return state


def network_buffers(kind, layout, n_streams, dtype):
    """``(state, scratch)`` for ``n_streams`` streams of the packed network ``layout``: the flat
    states, zeros (:func:`network_state`), and the workspace of a step's gates."""
    widest = int(layout[-1, C_STATE])
    return (network_state(layout, n_streams, dtype),
            aligned_empty((n_streams * (2 * N_GATES[kind] + N_SAVED[kind]) * widest,), dtype))


def sequence_work_size(kind, layout, n_steps, n_streams, itemsize):
    """Items of the workspace of :func:`sequence_outputs` (its parts and their alignment)."""
    n_layers = layout.shape[0] - 1
    widest = int(layout[-1, C_STATE])
    kept = n_steps * n_streams * widest if n_layers > 1 else 0
    parts = n_streams * int(layout[-1, H_STATE]) + n_streams * (2 * N_GATES[kind] + N_SAVED[kind]) * widest + 2 * kept
    return parts + 4 * (OPERAND_ALIGNMENT // itemsize)


@njit(**JIT_OPTIONS)
def aligned_part(buffer, start, size):
    """``(buffer[begin:begin + size], begin + size)`` with ``begin``, at or after ``start``, the first
    item of the 1-D ``buffer`` on a 64-byte boundary (:data:`~fastrnn.kernels.cpu.recurrent.OPERAND_ALIGNMENT`):
    vectors that straddle cache lines made the step loops ~10 % slower (measured on the 2-core
    development machine)."""
    address = buffer.ctypes.data + start * buffer.itemsize
    begin = start + (-address % OPERAND_ALIGNMENT) // buffer.itemsize
    return buffer[begin:begin + size], begin + size


def state_views(kind, layout, state, n_streams):
    """Per layer, ``(h, c)`` views (n_streams, H_k) into the flat ``state`` (``c`` None without a cell
    state)."""
    views = []
    for k in range(layout.shape[0] - 1):
        h, c = layer_state.py_func(layout, state, n_streams, n_streams, k, HAS_CELL_STATE[kind])
        views.append((h, c if HAS_CELL_STATE[kind] else None))
    return views


def _rebased(view, base, copy):
    """The view of ``copy`` that ``view`` (C-contiguous) is of ``base``."""
    start = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
    return copy[start:start + view.size].reshape(view.shape)


def packed_network(kind, params, views):
    """:func:`pack_network` of a network whose parameters are all views into the flat C-contiguous
    ``params``, from :data:`PACKED_NETWORKS` while ``params`` holds the same bits (packing an LSTM of
    hidden 64 costs ~15 us, a tenth of a single-sequence prediction, measured on the 2-core
    development machine). ``views()`` returns ``(layers, head_weight, head_bias)`` as
    :func:`pack_network` takes them (called only to pack). Returns ``(weights, layout)``."""
    def build(copies):
        (copy,) = copies
        layers, head_weight, head_bias = views()
        return pack_network(kind, [tuple(_rebased(a, params, copy) for a in layer) for layer in layers],
                            _rebased(head_weight, params, copy), _rebased(head_bias, params, copy), params.dtype)

    return PACKED_NETWORKS.derived(("packed", kind), (params,), build,
                                   lambda arrays, copies: same_bits(arrays[0], copies[0]))


#: packed networks of inference (:func:`packed_network`)
PACKED_NETWORKS = DerivedArrayCache()
