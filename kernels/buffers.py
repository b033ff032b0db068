"""The kernel contract: what one recurrent layer's forward and backward passes take and give.

Every device's entry points (:func:`fastrnn.kernels.cpu.layer_forward`, ``layer_backward`` and their
CUDA twins in :mod:`fastrnn.kernels.cuda`) take the same named structures, all arrays on the device
that runs them (numpy arrays on the CPU, numba-cuda device arrays on a GPU), time-major and
C-contiguous, for one layer and one direction over a batch of ``B`` sequences of ``T`` steps:

- :class:`LayerWeights` and :class:`LayerGrads`: the parameters of the layer and their gradients,
  PyTorch's names and shapes (``G`` gate blocks of ``H`` units: RNN 1, LSTM 4, GRU 3);
- :class:`ForwardBuffers`: the states and activations the forward pass writes, which backpropagation
  reads (for inference, one step of activations, overwritten at every step);
- :class:`BackwardBuffers`: the state gradients carried through time and the workspaces of BPTT.

The buffers are made by :func:`forward_buffers` and :func:`backward_buffers`, the one place that knows
their shapes and which of them may share memory; the layers, the networks and the tests all use them.
``scratch(*name, shape)`` allocates an uninitialized array: a fresh one, or one reused from the
previous training batch (:mod:`fastrnn._workspace`) under the same name.
"""

from typing import NamedTuple

from .cells import GRU, HAS_CELL_STATE, N_CARRY, N_GATES, N_SAVED


class LayerWeights(NamedTuple):
    """One layer's parameters (one direction), read by both passes."""

    w_ih: object  # (G*H, D): PyTorch's weight_ih
    w_hh: object  # (G*H, H): weight_hh
    b_ih: object  # (G*H,): bias_ih
    b_hh: object  # (G*H,): bias_hh


class LayerGrads(NamedTuple):
    """dL/d(parameters) of one layer (one direction), written (not added to) by the backward pass."""

    w_ih: object  # (G*H, D)
    w_hh: object  # (G*H, H)
    b_ih: object  # (G*H,)
    b_hh: object  # (G*H,)


class ForwardBuffers(NamedTuple):
    """What the forward pass writes.

    ``h[0]`` (and ``c[0]``) hold the initial state on entry; ``h[t+1]`` is ``h_t`` on exit. ``saved`` and
    ``gx`` hold every step (training: BPTT reads them) or one step (inference: overwritten at each
    step, nothing kept; a backward pass then cannot run).
    """

    h: object      # (T+1, B, H)
    c: object      # (T+1, B, H), or (T+1, B, 0) for cells without a cell state
    saved: object  # (T, B, N_SAVED*H) or (1, B, N_SAVED*H): the cell's activations
    gx: object     # (T, B, G*H) or (1, B, G*H): input projections
    gh: object     # (B, G*H): one step's recurrent projection

    @property
    def for_backward(self):
        """True when every step's activations are kept (a backward pass can follow)."""
        return self.saved.shape[0] == self.h.shape[0] - 1


class BackwardBuffers(NamedTuple):
    """What backpropagation through time carries and writes besides the weight gradients.

    ``dh`` holds dL/dh_T on entry and dL/dh_0 on exit; ``dc`` likewise for the LSTM's cell state,
    while for the GRU it is the carry of the direct path ``dL/dh_t * z`` and for the Elman RNN empty.
    ``d_gates`` receives the gate pre-activation gradients with respect to the recurrent projection,
    ``d_gates_x`` those with respect to the input projection: the same array for every cell but the
    GRU, whose candidate's recurrent half is scaled by the reset gate (see ``cells``).
    """

    dh: object         # (B, H)
    dc: object         # (B, N_CARRY*H)
    d_gates: object    # (T, B, G*H): workspace, contents unspecified on exit
    d_gates_x: object  # (T, B, G*H): d_gates itself, except for the GRU
    dx: object         # (T, B, D), written: dL/dx; or None (the gradient is not needed)


def fresh_scratch(backend, dtype):
    """A ``scratch(*name, shape)`` that allocates new uninitialized arrays of ``dtype`` on ``backend``."""
    return lambda *name, shape: backend.empty(shape, dtype)


def forward_buffers(kind, n_steps, n_batch, hidden, scratch, run=0, train=True):
    """The :class:`ForwardBuffers` of one layer and direction (``run``, part of the arrays' names).

    Parameters
    ----------
    kind : int
        Cell code (:data:`fastrnn.kernels.cells.CELL_CODES`).
    n_steps, n_batch, hidden : int
        ``T``, ``B`` and ``H``.
    scratch : callable
        ``scratch(*name, shape)`` -> an uninitialized array (:func:`fresh_scratch`, or a workspace's).
    run : int
        Index of the layer and direction in its stack: runs never share states or activations.
    train : bool
        Keep every step's activations (True) or one step's, shared by all runs (inference).
    """
    gate_units = N_GATES[kind] * hidden
    cell_width = hidden if HAS_CELL_STATE[kind] else 0
    saved_width = N_SAVED[kind] * hidden
    h = scratch("h", run, shape=(n_steps + 1, n_batch, hidden))
    c = scratch("c", run, shape=(n_steps + 1, n_batch, cell_width))
    gh = scratch("gh", shape=(n_batch, gate_units))
    if train:
        saved = scratch("saved", run, shape=(n_steps, n_batch, saved_width))
        gx = scratch("gx", run, shape=(n_steps, n_batch, gate_units))
    else:
        saved = scratch("saved", shape=(1, n_batch, saved_width))
        gx = scratch("gx", shape=(1, n_batch, gate_units))
    return ForwardBuffers(h, c, saved, gx, gh)


def backward_buffers(kind, forward, n_in, scratch, backend, dh_n, dc_n=None, run=0, input_gradient=True):
    """The :class:`BackwardBuffers` of one layer and direction after its forward pass.

    The forward pass's input projections are no longer needed once BPTT starts, so ``forward.gx``
    receives the gate gradients; the GRU's second set needs a buffer of its own.

    Parameters
    ----------
    kind : int
        Cell code.
    forward : ForwardBuffers
        What the forward pass of this run wrote (with every step kept).
    n_in : int
        Input features ``D`` of the layer.
    scratch : callable
        As in :func:`forward_buffers`.
    backend : CPU or CUDA backend (:func:`fastrnn.kernels.dispatch.get_backend`)
    dh_n : (B, H) array
        dL/dh_T, copied into ``dh`` (host or backend array).
    dc_n : (B, H) array or None
        dL/dc_T for the LSTM (copied into ``dc``); ignored by the other cells.
    run : int
        As in :func:`forward_buffers`.
    input_gradient : bool
        Whether to compute dL/dx (False for the bottom layer of a network fed by data).
    """
    if not forward.for_backward:
        raise RuntimeError("backward needs a forward pass that kept its activations; the last one was run "
                           "for inference.")
    n_steps, n_batch, gate_units = forward.gx.shape
    hidden = forward.h.shape[2]
    dtype = forward.h.dtype
    dh = backend.copy(backend.asarray(dh_n, dtype))
    if HAS_CELL_STATE[kind]:
        dc = backend.copy(backend.asarray(dc_n, dtype))
    else:
        dc = backend.empty((n_batch, N_CARRY[kind] * hidden), dtype)
    d_gates_x = scratch("d_gates_x", shape=forward.gx.shape) if kind == GRU else forward.gx
    dx = scratch("dx", run, shape=(n_steps, n_batch, n_in)) if input_gradient else None
    return BackwardBuffers(dh, dc, forward.gx, d_gates_x, dx)
