"""Forward and backward passes over a stack of recurrent layers, as explicit functions over a tape.

:func:`stack_forward` runs the layers of one :class:`~fastrnn.layers.RNN`, ``LSTM`` or ``GRU`` module
(``num_layers`` layers, one or two directions each) over a time-major batch and returns a
:class:`StackTape`: everything :func:`stack_backward` needs, named. The layer modules' public
``forward``/``backward`` and the estimators' networks (:mod:`fastrnn._network`) are written on these
two functions; they read only the module's architecture (cell code, sizes, directions) and its
parameter views.

A *run* is one layer in one direction. Runs are numbered in PyTorch's state order (layer by layer,
forward direction first), which is also the order of the initial and final states. Arrays are
time-major on the backend: ``x: (T, B, D)``; the kernels' buffers follow :mod:`fastrnn.kernels.buffers`.
"""

import functools
from typing import NamedTuple

import numpy as np

from ._packing import active_counts, full_lengths, identity_index, reversal_index
from .kernels.buffers import (ForwardBuffers, LayerGrads, LayerWeights, backward_buffers, forward_buffers,
                              fresh_scratch)

PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # one run's parameters, PyTorch's names
DIRECTION_SUFFIXES = ("", "_reverse")  # PyTorch's names of the two directions' parameters


class RunTape(NamedTuple):
    """One run's forward pass: its input and the kernel buffers it filled."""

    input: object                # (T, B, D) on the backend
    buffers: ForwardBuffers


class StackTape(NamedTuple):
    """What a stack's forward pass keeps for its backward pass and for reading its final states."""

    runs: tuple                  # RunTape per run, in state order
    output: object               # (T, B, num_directions * H): the top layer's states (carried on padding)
    n_active: np.ndarray         # (T,) int64: sequences running at each step
    reverse: object              # (T, B) int64 time-reversal index, or None (unidirectional)
    weights: tuple               # LayerWeights per run, on the backend
    scratch: object              # the allocator the backward pass continues with
    backend: object
    train: bool                  # every run's activations kept (a backward pass can follow)

    @property
    def n_steps(self):
        return self.output.shape[0]

    @property
    def n_batch(self):
        return self.output.shape[1]

    @property
    def for_backward(self):
        """False after an inference pass (one step of activations kept, shared by the runs)."""
        return self.train


def run_weights(params, layer, direction):
    """The :class:`LayerWeights` (or, for gradient views, the same tuple) of one run from named views."""
    w_ih, w_hh, b_ih, b_hh = _run_names(layer, direction)
    return LayerWeights(params[w_ih], params[w_hh], params[b_ih], params[b_hh])


@functools.lru_cache(maxsize=None)
def _run_names(layer, direction):
    """The four parameter names of one run (``weight_ih_l0`` ...), made once."""
    return tuple(f"{kind}_l{layer}{DIRECTION_SUFFIXES[direction]}" for kind in PARAM_KINDS)


def stack_forward(module, x, h0, c0, params, backend, lengths=None, workspace=None, train=True):
    """Forward pass of a recurrent module's layers over time-major ``x: (T, B, D)``.

    Parameters
    ----------
    module : RNN, LSTM or GRU
        Supplies the architecture (cell, sizes, layers, directions, dtype).
    x : (T, B, D) array
        Host or backend array (made a contiguous backend array of the module's dtype).
    h0, c0 : (num_layers * num_directions, B, H) arrays
        Initial states, host or backend (``c0`` None without a cell state).
    params : dict of str -> array
        The module's named parameter views on ``backend``.
    backend : CPU or CUDA backend
    lengths : (B,) int64 array, optional
        Lengths sorted in decreasing order (the batch sorted by the caller); None: all steps.
    workspace : Workspace, optional
        Reuse the arrays of the previous training step (:mod:`fastrnn._workspace`); the outputs are
        then overwritten by the next call.
    train : bool
        Keep every step's activations for :func:`stack_backward` (False: inference, less memory and
        time, and no backward).

    Returns
    -------
    StackTape
        ``tape.output`` is the top layer's output ``(T, B, num_directions * H)`` on the backend (on
        padded steps it holds the carried state, not zeros).
    """
    dtype = module.dtype
    scratch = fresh_scratch(backend, dtype) if workspace is None else \
        (lambda *name, shape: workspace.array(name, shape, dtype, backend))
    x = backend.asarray(x, dtype)  # contiguous: the kernels view (T, B, D) as (T*B, D)
    n_steps, n_batch, _ = x.shape
    if lengths is None:  # every sequence runs every step
        n_active = np.full(n_steps, n_batch, dtype=np.int64)
        reverse = reversal_index(full_lengths(n_batch, n_steps), n_steps) if module.bidirectional else None
    else:
        n_active = active_counts(lengths, n_steps)
        reverse = reversal_index(lengths, n_steps) if module.bidirectional else None
    hidden = module.hidden_size
    kind = module._kind
    runs, weights = [], []
    layer_input = x
    for layer in range(module.num_layers):
        for direction in range(module.num_directions):
            run = len(runs)
            run_input = layer_input
            if direction == 1:
                run_input = scratch("reversed", layer, shape=layer_input.shape)
                backend.gather_steps(layer_input, reverse, run_input)
            buffers = forward_buffers(kind, n_steps, n_batch, hidden, scratch, run, train)
            backend.assign(buffers.h[0], h0[run])
            if module.has_cell_state:
                backend.assign(buffers.c[0], c0[run])
            w = run_weights(params, layer, direction)
            backend.layer_forward(kind, run_input, w, buffers, n_active)
            runs.append(RunTape(run_input, buffers))
            weights.append(w)
        if module.bidirectional:
            layer_input = scratch("output", layer, shape=(n_steps, n_batch, 2 * hidden))
            backend.gather_steps(runs[-2].buffers.h[1:], identity_index(n_steps, n_batch), layer_input, 0, 0, hidden)
            backend.gather_steps(runs[-1].buffers.h[1:], reverse, layer_input, 0, hidden, hidden)
        else:
            layer_input = runs[-1].buffers.h[1:]
    return StackTape(tuple(runs), layer_input, n_active, reverse, tuple(weights), scratch, backend, train)


def stack_backward(module, tape, d_out, dh_n, dc_n, grads, input_gradient=True):
    """Backpropagation through time after :func:`stack_forward`, on the tape's backend.

    Parameters
    ----------
    module : RNN, LSTM or GRU
        The module whose forward pass made ``tape``.
    tape : StackTape
        From a forward pass with ``train=True``.
    d_out : (T, B, num_directions * H) array
        dL/d(output) at every step (host or backend).
    dh_n, dc_n : (num_layers * num_directions, B, H) arrays
        dL/d(final states), host or backend (``dc_n`` None without a cell state).
    grads : dict of str -> array
        Named views on the backend, laid out like the parameters, that receive their gradients.
    input_gradient : bool
        Compute dL/dx (False for the bottom layer of a network fed by data: its product is skipped).

    Returns
    -------
    dx : (T, B, D) backend array, or None without ``input_gradient``
    dh0, dc0 : (num_layers * num_directions, B, H) backend arrays (``dc0`` None without a cell state)
    """
    if not tape.for_backward:
        raise RuntimeError("backward needs a forward pass that kept its activations; the last one was run "
                           "for inference.")
    backend, scratch, reverse = tape.backend, tape.scratch, tape.reverse
    dtype, hidden, kind = module.dtype, module.hidden_size, module._kind
    d_layer_out = backend.asarray(d_out, dtype)
    n_steps, n_batch = tape.n_steps, tape.n_batch
    dh0 = backend.empty((len(tape.runs), n_batch, hidden), dtype)
    dc0 = backend.empty(dh0.shape, dtype) if module.has_cell_state else None
    for layer in range(module.num_layers - 1, -1, -1):
        d_layer_input = None
        for direction in range(module.num_directions):
            run = layer * module.num_directions + direction
            run_tape = tape.runs[run]
            if module.bidirectional:  # this direction's features, in its own time order
                d_run_out = scratch("d_out", shape=(n_steps, n_batch, hidden))
                index = identity_index(n_steps, n_batch) if direction == 0 else reverse
                backend.gather_steps(d_layer_out, index, d_run_out, direction * hidden, 0, hidden)
            else:
                d_run_out = d_layer_out
            buffers = backward_buffers(kind, run_tape.buffers, run_tape.input.shape[2], scratch, backend, dh_n[run],
                                       None if dc_n is None else dc_n[run], run, input_gradient or layer > 0)
            backend.layer_backward(kind, run_tape.input, tape.weights[run], run_tape.buffers, d_run_out, buffers,
                                   LayerGrads(*run_weights(grads, layer, direction)), tape.n_active)
            backend.assign(dh0[run], buffers.dh)
            if module.has_cell_state:
                backend.assign(dc0[run], buffers.dc)
            if direction == 0 or buffers.dx is None:
                d_layer_input = buffers.dx
            else:  # the reverse direction saw its input reversed in time
                backend.gather_steps(buffers.dx, reverse, d_layer_input, accumulate=True)
        d_layer_out = d_layer_input
    return d_layer_out, dh0, dc0


def final_states(tape):
    """The final hidden states of every run, one (B, H) backend array each (views into the tape)."""
    return [run.buffers.h[run.buffers.h.shape[0] - 1] for run in tape.runs]


def final_cell_states(tape):
    """The final cell states of every run, one (B, H) or (B, 0) backend array each."""
    return [run.buffers.c[run.buffers.c.shape[0] - 1] for run in tape.runs]


def affine_forward(H, params, backend):
    """``H @ W^T + b`` on ``backend`` for ``H: (..., in_features)`` and named ``params`` (``weight``
    (out_features, in_features), ``bias`` (out_features,)) there: a :class:`~fastrnn.layers.Linear`
    head's forward pass. Returns ``(..., out_features)``."""
    weight = params["weight"]
    n_out, n_in = weight.shape
    rows = H.reshape(-1, n_in) if H.ndim != 2 else H
    out = backend.empty((rows.shape[0], n_out), weight.dtype)
    backend.matmul(rows, weight, out, trans_b=True, bias=params["bias"])
    return out.reshape(H.shape[:-1] + (n_out,)) if H.ndim != 2 else out


def affine_backward(H, params, d_out, grads, backend):
    """Gradients of :func:`affine_forward` given ``d_out: (..., out_features)``: writes ``grads["weight"]``
    and ``grads["bias"]`` (named views on ``backend``) and returns dL/dH, shaped like ``H``."""
    weight = params["weight"]
    n_out, n_in = weight.shape
    H_rows = H.reshape(-1, n_in) if H.ndim != 2 else H
    d_rows = d_out.reshape(-1, n_out) if d_out.ndim != 2 else d_out
    backend.matmul(d_rows, H_rows, grads["weight"], trans_a=True)
    backend.column_sum(d_rows, grads["bias"])
    d_input = backend.empty(H_rows.shape, weight.dtype)
    backend.matmul(d_rows, weight, d_input)
    return d_input.reshape(H.shape) if H.ndim != 2 else d_input


__all__ = ["RunTape", "StackTape", "stack_forward", "stack_backward", "final_states", "final_cell_states",
           "run_weights", "affine_forward", "affine_backward"]
