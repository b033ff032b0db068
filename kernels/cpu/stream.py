"""One time step of a whole stacked network, for streaming inference: every layer and the head in
one compiled call.

A stream (:class:`fastrnn.streaming.Stream`) feeds a model one step at a time, so the cost of a step
is what matters, and at small sizes it is mostly overhead: each call from Python into a compiled
function costs about half a microsecond (measured on a 2-core Intel Xeon VM with AVX-512, float32,
like the other figures here), about what a 64-unit LSTM's recurrent product costs. So a step is a
single ``@njit`` call, :func:`stream_step`, that runs all layers and the head with no allocation:

- the parameters are packed once, when the stream is made (:func:`pack_network`), into one flat
  array: per layer ``W_ih^T`` (D, G*H) and ``W_hh^T`` (H, G*H), row-major, so that the products are
  sums of contiguous weight rows scaled by the inputs, which LLVM vectorizes; the input bias (the
  projection bias of the batched kernels, :func:`fastrnn.kernels.cpu.recurrent.projection_bias`) and
  the GRU's ``b_hn``; then the head's ``W`` (n_outputs, H) and ``b``. An int64 table (``layout``)
  holds each block's offset and sizes, so any number of layers of any sizes go through one
  signature (no lists of arrays, which cost far more to pass in);
- the states of every layer live in one flat array, updated in place; the step's gate buffers in
  another (scratch);
- the pointwise math is the cells' row form (:func:`fastrnn.kernels.cells.forward_step`), the one the
  batched kernels use, with the same activations (float32: the fast rational tanh; float64: libm);
- the products are written out (:func:`add_product`): eight weight rows per pass over the output
  row, which loads and stores the accumulator once per eight multiply-adds instead of once per one
  (64 x 256 weights: 0.84 us, level with OpenBLAS's sgemv called from compiled code, against 1.2 us
  for one row per pass; a whole LSTM step at H=64 from Python, about 2.8 us). Each stream runs
  alone, so a stream's values do not depend on how many streams run beside it (and n streams cost
  about n times one: ~1.1 us per stream at H=64; a product over all streams at once would be
  cheaper for many streams, but would tie a stream's rounding to their number).

The summation order differs from the batched kernels' BLAS products, so a step's values agree with a
whole-sequence forward pass to rounding, not bitwise. The step is compiled per cell, at its first use
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
from . import vector
from .vector import add_to, copy_into

drop_stale_cache(__file__, [*package_files(cells.__file__), config.__file__, vector.__file__])

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


def _stream_step(kind):
    """:data:`stream_step` compiled for the cell ``kind``."""

    @njit(**JIT_OPTIONS)
    def stream_cell_step(x, weights, layout, state, scratch, out):
        """Advance every stream by one step and write the head's outputs.

        Parameters
        ----------
        kind : int
            Cell code (:data:`fastrnn.kernels.cells.CELL_CODES`), the same for every layer.
        x : (B, D) array, C-contiguous, of the weights' dtype
            This step's inputs, one row per stream.
        weights : (P,) array
            The packed parameters (:func:`pack_network`).
        layout : (L + 1, 8) int64 array
            Offsets and sizes of the blocks of ``weights`` and ``state`` (:func:`pack_network`).
        state : (S,) array
            Every layer's ``h`` (B, H_k) and, for the LSTM, ``c`` (B, H_k), flat: updated in place.
        scratch : (>= B * (2*G + N_SAVED) * max H,) array
            Workspace of the step's gates.
        out : (B, n_outputs) float64 array
            Written: the head applied to the top layer's new ``h`` (computed in the weights' dtype).

        Returns
        -------
        bool
            False, with nothing changed, when ``x`` holds NaN or infinity; else True.
        """
        n_streams, n_features = x.shape
        for b in range(n_streams):
            for d in range(n_features):
                if not math.isfinite(x[b, d]):
                    return False
        n_layers = layout.shape[0] - 1
        n_gates = N_GATES[kind]
        n_saved = N_SAVED[kind]
        has_cell_state = HAS_CELL_STATE[kind]
        layer_input = x
        for k in range(n_layers):
            n_in = layout[k, N_IN]
            hidden = layout[k, HIDDEN]
            n_gate_units = n_gates * hidden
            w_ih = weights[layout[k, W_IH]:layout[k, W_IH] + n_in * n_gate_units].reshape(n_in, n_gate_units)
            w_hh = weights[layout[k, W_HH]:layout[k, W_HH] + hidden * n_gate_units].reshape(hidden, n_gate_units)
            bias = weights[layout[k, BIAS]:layout[k, BIAS] + n_gate_units]
            h = state[layout[k, H_STATE]:layout[k, H_STATE] + n_streams * hidden].reshape(n_streams, hidden)
            c_size = hidden if has_cell_state else 0  # (B, 0) without a cell state
            c = state[layout[k, C_STATE]:layout[k, C_STATE] + n_streams * c_size].reshape(n_streams, c_size)
            gx = scratch[:n_streams * n_gate_units].reshape(n_streams, n_gate_units)
            gh = scratch[n_streams * n_gate_units:2 * n_streams * n_gate_units].reshape(n_streams, n_gate_units)
            saved_start = 2 * n_streams * n_gate_units
            saved = scratch[saved_start:saved_start + n_streams * n_saved * hidden].reshape(n_streams, n_saved * hidden)
            for b in range(n_streams):
                gx_row, gh_row = gx[b], gh[b]
                copy_into(gx_row, bias)  # gx = b + x W_ih^T (the GRU's b_hn goes to gh)
                add_product(layer_input[b], w_ih, gx_row)
                for j in range(n_gate_units):
                    gh_row[j] = 0
                add_product(h[b], w_hh, gh_row)
                if kind == GRU:
                    add_to(gh_row[2 * hidden:], weights[layout[k, B_HN]:layout[k, B_HN] + hidden])
            # the new states overwrite the old ones: each unit reads its own previous value only
            forward_step(kind, gx, gh, h, c, h, c, saved)
            layer_input = h
        head = layout[n_layers]
        n_in, n_out = head[N_IN], head[HIDDEN]
        top = layer_input
        for o in range(n_out):
            w_row = weights[head[W_IH] + o * n_in:head[W_IH] + (o + 1) * n_in]
            b_o = weights[head[BIAS] + o]
            for b in range(n_streams):
                row = top[b]
                total = row[0] * w_row[0]
                for j in range(1, n_in):
                    total += row[j] * w_row[j]
                out[b, o] = total + b_o
        return True

    return stream_cell_step


#: ``stream_step(kind, x, weights, layout, state, scratch, out)``: advance every stream by one step
#: (the compiled function of the cell ``kind``, compiled at its first use)
stream_step = PerCell(_stream_step)

def pack_network(kind, layers, head_weight, head_bias, n_streams, dtype):
    """Pack a network's parameters for :func:`stream_step`, and allocate its state and workspace.

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
    n_streams : int
        Streams run side by side.
    dtype : float32 or float64
        Precision of the packed arrays (the network's).

    Returns
    -------
    weights : (P,) array
    layout : (L + 1, 8) int64 array
        Per layer: ``[D, H, W_ih^T offset, W_hh^T offset, bias offset, b_hn offset, h offset, c offset]``
        (``h`` and ``c`` offsets into the state); the head: ``[H_top, n_outputs, W offset, 0, b offset,
        0, 0, 0]``.
    state : (S,) zeros
    scratch : workspace for :func:`stream_step`
    """
    from .recurrent import projection_bias

    n_gates = N_GATES[kind]
    blocks, layout = [], np.zeros((len(layers) + 1, LAYOUT_COLUMNS), dtype=np.int64)
    size = state_size = widest = 0

    def place(array):
        nonlocal size
        flat = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
        blocks.append(flat)
        size += flat.size
        return size - flat.size

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
        state_size += n_streams * hidden
        row[C_STATE] = state_size
        if HAS_CELL_STATE[kind]:
            state_size += n_streams * hidden
        widest = max(widest, hidden)
    head = layout[len(layers)]
    head[N_IN], head[HIDDEN] = head_weight.shape[1], head_weight.shape[0]
    head[W_IH] = place(head_weight)
    head[BIAS] = place(head_bias)
    weights = np.concatenate(blocks)
    state = np.zeros(state_size, dtype=dtype)
    scratch = np.zeros(n_streams * (2 * n_gates + N_SAVED[kind]) * widest, dtype=dtype)
    return weights, layout, state, scratch
