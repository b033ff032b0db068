"""What a recurrent network computes inside: its states and gates per step, and how far back the error
signal of a loss reaches (gradient flow).

Both are read from fastrnn's own kernels, not recomputed: :func:`stack_internals` takes the states and
the gate activations that the forward pass writes for backpropagation (the kernels' ``saved``
activations open with the gates, :data:`fastrnn.kernels.cells.GATE_NAMES`), and :func:`gradient_flow`
runs the kernels' BPTT. The estimators' and layers' ``inspect`` and ``gradient_flow`` methods are thin
wrappers that prepare the inputs and the loss.

Gradient flow. For a loss ``L`` at step ``s`` (one sample's loss; the norms are averaged over the
samples), the flow at step ``t <= s`` of layer ``k`` is ``||dL/dh^k_t||``, the total derivative: the
error signal that reaches ``h^k_t`` through the layer's own recurrence and, for a layer below the top,
through the layers above it at step ``t``. It is computed exactly, by splitting the sequence at every
``t``: the stack runs steps ``t+1 .. s`` from the states it had at ``t`` and BPTT gives the gradient of
``L`` with respect to those initial states (the recurrent part, and the LSTM's cell-state gradient);
one step of the layer above, run backward from its own total state gradients at ``t``, gives the
part through it. That is ``s`` backward passes of decreasing length for a
sequence of ``s + 1`` steps: meant for analysis, on a few hundred steps.
"""

from typing import NamedTuple

import numpy as np

from ._stack import affine_forward, stack_backward, stack_forward
from .kernels.cells import GATE_NAMES

__all__ = ["GradientFlow"]  # the functions below are the methods' machinery, on internal tapes


class GradientFlow(NamedTuple):
    """How much of a loss's gradient reaches each earlier step of each layer.

    Attributes
    ----------
    norms : ndarray
        ``(n_layers, step + 1)``: for each recurrent layer (bottom first) and step ``t = 0 .. step``,
        the mean over the samples of ``||dL_i/dh_t||``, the norm of the gradient of sample ``i``'s
        loss at ``step`` with respect to the layer's hidden state after step ``t`` (unidirectional
        layers only). With ``per_sample=True``, ``(n_layers, n_samples, step + 1)``, one row per
        sample.
    distance : ndarray
        ``(step + 1,)`` int: ``step - t``, how many steps back from the loss each column lies.
    step : int
        The step whose loss was differentiated (non-negative).
    """

    norms: np.ndarray
    distance: np.ndarray
    step: int


# ---------------------------------------------------------------------------------- internals
def stack_internals(module, tape, order=None, lengths=None):
    """The states and gate activations per step of every layer of a stack's forward pass.

    Parameters
    ----------
    module : RNN, LSTM or GRU
        The module (its architecture) whose :func:`~fastrnn._stack.stack_forward` made ``tape``.
    tape : StackTape
        From a forward pass with ``train=True`` (every step's activations kept).
    order : (B,) int64 array, optional
        The sort that put the batch in decreasing length order (the tape's batch is ``X[order]``);
        the results come back in the original order.
    lengths : (B,) int64 array, optional
        The lengths of the sorted batch; steps past a sequence's length are NaN.

    Returns
    -------
    list of dict
        One dict per layer: name -> float64 array (B, T, H), batch-first in the original order.
        ``"h"``, the LSTM's ``"c"``, the gates (:data:`~fastrnn.kernels.cells.GATE_NAMES`); the
        reverse direction's under the same names with ``"_reverse"``, at each time step.
    """
    backend = tape.backend
    n_steps, n_batch = tape.n_steps, tape.n_batch
    hidden, gates = module.hidden_size, GATE_NAMES[module._kind]
    padding = None if lengths is None else np.arange(n_steps)[:, None] >= np.asarray(lengths)[None, :]  # (T, B)
    inverse = None if order is None else np.argsort(order)
    layers = []
    for layer in range(module.num_layers):
        found = {}
        for direction in range(module.num_directions):
            buffers = tape.runs[layer * module.num_directions + direction].buffers
            arrays = {"h": backend.to_host(buffers.h)[1:]}                          # (T, B, H)
            if module.has_cell_state:
                arrays["c"] = backend.to_host(buffers.c)[1:]
            saved = backend.to_host(buffers.saved)                                 # (T, B, N_SAVED*H)
            for k, name in enumerate(gates):
                arrays[name] = saved[:, :, k * hidden:(k + 1) * hidden]
            suffix = "_reverse" if direction == 1 else ""
            for name, array in arrays.items():
                array = np.array(array, dtype=np.float64)
                if direction == 1:  # the reverse run's step tau is time step reverse[tau]: its own inverse
                    array = array[tape.reverse, np.arange(n_batch)[None, :]]
                if padding is not None:
                    array[padding] = np.nan
                array = array.transpose(1, 0, 2)                                   # (B, T, H)
                found[name + suffix] = np.ascontiguousarray(array if inverse is None else array[inverse])
        layers.append(found)
    return layers


def network_internals(network, tape, order=None, lengths=None):
    """:func:`stack_internals` of every layer of an estimator's network (single-layer modules) after
    its forward pass ``tape`` (``network.forward(..., train=True)``): one dict per layer."""
    return [stack_internals(layer, layer_tape, order, lengths)[0]
            for layer, layer_tape in zip(network.layers, tape.layers)]


# ---------------------------------------------------------------------------------- gradient flow
def check_unidirectional(bidirectional):
    """The ValueError of ``gradient_flow`` for bidirectional layers."""
    if bidirectional:
        raise ValueError("gradient_flow needs unidirectional layers: the reverse direction carries the gradient "
                         "forward in time.")


def head_gradient(estimator, h_top, targets):
    """d(sum of the samples' losses)/d(top state) of an estimator whose network has a linear head on
    the top layer's state: ``h_top`` (B, H) host states, ``targets`` (B, ...) encoded targets; the
    estimator's ``_loss`` averages over the samples, hence the factor B."""
    network = estimator.network_
    backend = network.backend
    head = network._param_views[len(network.layers)]
    outputs = affine_forward(backend.asarray(h_top, network.dtype), head, backend)
    _, d_outputs = estimator._loss(backend, outputs, backend.asarray(targets, targets.dtype))
    return backend.to_host(d_outputs).astype(np.float64) * h_top.shape[0] @ network.head.params["weight"]


class _Layer(NamedTuple):
    """One unidirectional single-layer module, its parameter views on the backend, and a scratch
    buffer for the parameter gradients that its backward passes write (and the flow ignores)."""

    module: object
    params: dict
    grads: dict


def gradient_flow(layers, x, step, head_gradient, backend, per_sample, initial=None):
    """The flow of the loss at ``step`` back through a stack of single-layer unidirectional modules.

    Parameters
    ----------
    layers : list of (module, params)
        Single-layer unidirectional RNN / LSTM / GRU modules, bottom first, with their parameter
        views on ``backend``.
    x : (T, B, D) host array
        Time-major inputs (equal lengths).
    step : int
        The loss's step, in ``0 .. T-1``.
    head_gradient : callable
        ``head_gradient(h_top)`` -> (B, H_top) host array: the gradient of the summed per-sample
        losses at ``step`` with respect to the top layer's state after ``step``, given that state
        ``h_top`` (B, H_top) host array.
    backend : CPU or CUDA backend
    per_sample : bool
        Keep one row per sample instead of the mean.
    initial : list of (h0, c0), optional
        Each layer's initial state, (B, H) host arrays (c0 unused without a cell state); None: zeros.

    Returns
    -------
    GradientFlow
    """
    layers = [_Layer(module, params, module._views(backend.empty(module._flat.shape, module.dtype)))
              for module, params in layers]
    x = np.ascontiguousarray(x[:step + 1])
    states = _states_at_every_step(layers, x, backend, initial)  # per layer: h, c (T+1, B, H); t+1 is step t
    n_batch = x.shape[1]
    total = [np.zeros((n_batch, step + 1)) for _ in layers]  # ||dL/dh^k_t|| per sample
    gradient_top = np.asarray(head_gradient(states[-1][0][step + 1]), dtype=np.float64)
    for t in range(step, -1, -1):
        if t == step:  # the loss reads the top state after ``step``; no cell state carries it further
            recurrent = [np.zeros((n_batch, layer.module.hidden_size)) for layer in layers]
            recurrent_cell = [np.zeros_like(h) for h in recurrent]
            recurrent[-1] = gradient_top
        else:
            recurrent, recurrent_cell = _recurrent_part(layers, x, states, t, step, gradient_top, backend)
        flow = recurrent[-1]
        total[-1][:, t] = np.linalg.norm(flow, axis=1)
        for k in range(len(layers) - 2, -1, -1):  # down the stack: the part through layer k+1 at step t
            flow = recurrent[k] + _through_layer_above(layers[k + 1], states, k, t, flow, recurrent_cell[k + 1],
                                                       backend)
            total[k][:, t] = np.linalg.norm(flow, axis=1)
    norms = np.stack(total)                                   # (L, B, step+1)
    return GradientFlow(norms if per_sample else norms.mean(axis=1), step - np.arange(step + 1), step)


def _states_at_every_step(layers, x, backend, initial):
    """Per layer, host copies of ``h`` and ``c`` (T+1, B, H) from one inference pass from ``initial``."""
    states = []
    sequence = x
    for k, layer in enumerate(layers):
        tape = _run(layer, sequence, None if initial is None else initial[k], backend, train=False)
        buffers = tape.runs[0].buffers
        states.append((np.array(backend.to_host(buffers.h)), np.array(backend.to_host(buffers.c))))
        sequence = tape.output
    return states


def _run(layer, x, start, backend, train):
    """``stack_forward`` of one layer over ``x`` (T, B, D) from ``start`` = (h0, c0) host arrays (B, H)
    (None: zeros)."""
    module = layer.module
    n_batch = x.shape[1]
    if start is None:
        h0 = np.zeros((1, n_batch, module.hidden_size), dtype=module.dtype)
        c0 = h0 if module.has_cell_state else None
    else:
        h0 = np.asarray(start[0], dtype=module.dtype).reshape(1, n_batch, module.hidden_size)
        c0 = np.asarray(start[1], dtype=module.dtype).reshape(h0.shape) if module.has_cell_state else None
    return stack_forward(module, backend.asarray(np.ascontiguousarray(x), module.dtype), h0, c0, layer.params,
                         backend, train=train)


def _backward(layer, tape, d_out, backend, input_gradient, d_cell=None):
    """``stack_backward`` of one layer after ``_run`` from dL/d(outputs) ``d_out`` (T, B, H) and, for
    the LSTM, dL/d(final cell state) ``d_cell`` (B, H) (None: zero); returns host (dx, dh0, dc0) (dx
    None if not asked; dc0 zeros without a cell state)."""
    module = layer.module
    shape = (1, tape.n_batch, module.hidden_size)
    zeros = np.zeros(shape, dtype=module.dtype)
    dc_n = None
    if module.has_cell_state:
        dc_n = zeros if d_cell is None else np.asarray(d_cell, dtype=module.dtype).reshape(shape)
    dx, dh0, dc0 = stack_backward(module, tape, backend.asarray(np.ascontiguousarray(d_out), module.dtype), zeros,
                                  dc_n, layer.grads, input_gradient=input_gradient)
    dc0 = np.zeros(shape) if dc0 is None else backend.to_host(dc0)
    return (None if dx is None else np.asarray(backend.to_host(dx), dtype=np.float64),
            np.asarray(backend.to_host(dh0), dtype=np.float64)[0], np.asarray(dc0, dtype=np.float64)[0])


def _recurrent_part(layers, x, states, t, step, gradient_top, backend):
    """dL/dh^k_t and dL/dc^k_t through the steps after ``t``, for every layer k: the stack runs steps
    ``t+1 .. step`` from its states at ``t`` and BPTT returns the gradients of those initial states."""
    tapes = []
    sequence = x[t + 1:step + 1]
    for k, layer in enumerate(layers):
        h, c = states[k]
        tape = _run(layer, sequence, (h[t + 1], c[t + 1]), backend, train=True)
        tapes.append(tape)
        sequence = tape.output
    top = layers[-1].module
    d_out = np.zeros((step - t, x.shape[1], top.hidden_size))
    d_out[-1] = gradient_top
    recurrent, recurrent_cell = [None] * len(layers), [None] * len(layers)
    for k in range(len(layers) - 1, -1, -1):
        d_out, recurrent[k], recurrent_cell[k] = _backward(layers[k], tapes[k], d_out, backend, input_gradient=k > 0)
    return recurrent, recurrent_cell


def _through_layer_above(above, states, k, t, flow_above, cell_flow_above, backend):
    """The part of dL/dh^k_t that passes through layer k+1 at step t: one step of layer k+1 (input
    h^k_t, state at t-1) run backward from dL/dh^{k+1}_t = ``flow_above`` and, for the LSTM, from
    dL/dc^{k+1}_t = ``cell_flow_above`` (its cell state at t also depends on h^k_t)."""
    h_below = states[k][0][t + 1][np.newaxis]                       # (1, B, H_k): layer k+1's input at t
    h, c = states[k + 1]
    tape = _run(above, h_below, (h[t], c[t]), backend, train=True)
    dx, _, _ = _backward(above, tape, flow_above[np.newaxis], backend, input_gradient=True, d_cell=cell_flow_above)
    return dx[0]
