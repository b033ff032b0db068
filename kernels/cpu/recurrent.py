"""CPU time loops of one recurrent layer, shared by every cell.

One layer, one direction, a batch of sequences, time-major contiguous arrays. The structure follows
what is known to be fast with Numba on a few cores (``DESIGN.md``):

- the input projection of all steps is one matrix product, before the loop;
- inside the loop only the recurrent product (into a preallocated buffer) and the cell's fused
  pointwise step; nothing is allocated in the loop;
- the weight gradients are single products after the loop:
  ``dW_ih = dG^T X`` and ``dW_hh = dG^T H_prev`` over all ``T*B`` rows at once.

Every array is allocated by the caller, so workspaces can be reused across batches.

Variable lengths: ``n_active[t]`` is the number of sequences still running at step ``t``. The
sequences are sorted by decreasing length (the caller permutes the batch), so the running ones are
the leading rows and each step works on a contiguous prefix: the recurrent product and the cell step
cost what the running sequences cost, as with PyTorch's packed sequences. A finished sequence's state
is carried forward unchanged, so row ``b`` of ``h[T]`` is its state after its own last step, and its
padded steps get no gradient.
"""

import numpy as np
from numba import njit

from .. import cells, config
from ..cache import drop_stale_cache
from ..cells import GRU
from ..config import JIT_OPTIONS
from . import steps
from .steps import backward_step, forward_step

drop_stale_cache(__file__, [cells.__file__, config.__file__, steps.__file__])


@njit(**JIT_OPTIONS)
def layer_forward(kind, x, w_ih, w_hh, b_ih, b_hh, h, c, saved, gx, gh, n_active):
    """Run one recurrent layer forward over a batch of sequences.

    Parameters
    ----------
    kind : int
        Cell code from :data:`fastrnn.kernels.cells.CELL_CODES`.
    x : (T, B, D) array
        Input sequence, time-major, C-contiguous.
    w_ih : (G*H, D) array
        Input weights (PyTorch's ``weight_ih``).
    w_hh : (G*H, H) array
        Recurrent weights (PyTorch's ``weight_hh``).
    b_ih, b_hh : (G*H,) arrays
        Biases.
    h : (T+1, B, H) array
        On entry ``h[0]`` is the initial hidden state; on exit ``h[t+1]`` is ``h_t``.
    c : (T+1, B, H) array, or (T+1, B, 0) for cells without a cell state
        On entry ``c[0]`` is the initial cell state; on exit ``c[t+1]`` is ``c_t``.
    saved : (T, B, N_SAVED*H) array
        Written: per-step activations for the backward pass.
    gx : (T, B, G*H) array
        Workspace: input projections of all steps.
    gh : (B, G*H) array
        Workspace: recurrent projection of one step.
    n_active : (T,) int64 array
        Sequences running at each step, non-increasing; all ``B`` for equal lengths. Rows at and
        beyond ``n_active[t]`` copy their state from step t-1 (see the module docstring).
    """
    n_steps, n_batch, n_in = x.shape
    n_gate_units = w_ih.shape[0]
    gx_rows = gx.reshape(n_steps * n_batch, n_gate_units)
    np.dot(x.reshape(n_steps * n_batch, n_in), w_ih.T, gx_rows)
    # Row-wise adds: measured here, the same addition written as a 2-D indexed double loop made the
    # whole cached function about 2x slower (the uncached build was not affected).
    bias = b_ih + b_hh
    hidden = h.shape[2]
    gru = kind == GRU
    if gru:  # b_hn belongs inside the reset gate's product: it is added to gh at every step
        bias[2 * hidden:] = b_ih[2 * hidden:]
    b_hn = b_hh[2 * hidden:]
    for r in range(n_steps * n_batch):
        gx_rows[r] += bias
    w_hh_t = w_hh.T
    for t in range(n_steps):
        n_run = n_active[t]
        if n_run > 0:
            gh_run = gh[:n_run]
            np.dot(h[t][:n_run], w_hh_t, gh_run)
            if gru:
                for b in range(n_run):
                    gh_run[b][2 * hidden:] += b_hn
            forward_step(kind, gx[t][:n_run], gh_run, h[t][:n_run], c[t][:n_run], h[t + 1][:n_run],
                         c[t + 1][:n_run], saved[t][:n_run])
        for b in range(n_run, n_batch):  # finished sequences keep their state
            h[t + 1][b] = h[t][b]
            c[t + 1][b] = c[t][b]


@njit(**JIT_OPTIONS)
def layer_backward(kind, x, w_ih, w_hh, h, c, saved, d_out, dh, dc,
                   d_gates, d_gates_x, dx, dw_ih, dw_hh, db_ih, db_hh, n_active):
    """Backpropagate through time over one layer, after :func:`layer_forward`.

    Parameters
    ----------
    kind : int
        Cell code.
    x : (T, B, D) array
        The input sequence given to the forward pass.
    w_ih : (G*H, D) array
        Input weights.
    w_hh : (G*H, H) array
        Recurrent weights.
    h, c, saved : arrays
        As left by :func:`layer_forward`.
    d_out : (T, B, H) array
        dL/dh_t from outside the recurrence at every step (zero where a step has no loss).
    dh : (B, H) array
        On entry dL/dh_T through the final state; on exit dL/dh_0 (initial-state gradient).
    dc : (B, H) array, or (B, 0)
        On entry dL/dc_T; on exit dL/dc_0 (LSTM only).
    d_gates : (T, B, G*H) array
        Workspace: pre-activation gradients of every step (may be the forward's ``gx``).
    dx : (T, B, D) array
        Written: dL/dx.
    dw_ih : (G*H, D) array
        Written: dL/dW_ih.
    dw_hh : (G*H, H) array
        Written: dL/dW_hh.
    db_ih, db_hh : (G*H,) arrays
        Written: dL/db_ih and dL/db_hh.
    n_active : (T,) int64 array
        As given to :func:`layer_forward`. ``d_out`` at a finished sequence's padded steps is
        ignored; their gate gradients (and so ``dx`` there) are zero.
    """
    n_steps, n_batch, n_in = x.shape
    n_gate_units, hidden = w_hh.shape
    gru = kind == GRU
    for t in range(n_steps - 1, -1, -1):
        n_run = n_active[t]
        if n_run > 0:
            dh_run, dc_run, d_gates_run = dh[:n_run], dc[:n_run], d_gates[t][:n_run]
            backward_step(kind, d_out[t][:n_run], dh_run, dc_run, h[t][:n_run], c[t][:n_run], h[t + 1][:n_run],
                          saved[t][:n_run], d_gates_run, d_gates_x[t][:n_run])
            np.dot(d_gates_run, w_hh, dh_run)
            if gru:
                for b in range(n_run):
                    dh_run[b] += dc_run[b]
        for b in range(n_run, n_batch):  # padded steps: the state passed through unchanged
            d_gates[t][b] = 0.0
            d_gates_x[t][b] = 0.0
    n_rows = n_steps * n_batch
    d_gate_rows = d_gates.reshape(n_rows, n_gate_units)
    d_input_gate_rows = d_gates_x.reshape(n_rows, n_gate_units)
    np.dot(d_input_gate_rows.T, x.reshape(n_rows, n_in), dw_ih)
    np.dot(d_gate_rows.T, h[:n_steps].reshape(n_rows, hidden), dw_hh)
    np.dot(d_input_gate_rows, w_ih, dx.reshape(n_rows, n_in))
    db_ih[:] = 0.0
    db_hh[:] = 0.0
    for r in range(n_rows):
        db_ih += d_input_gate_rows[r]
        db_hh += d_gate_rows[r]
