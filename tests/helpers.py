"""Small helpers shared by the tests: relative errors, random problems, finite differences."""

from typing import NamedTuple

import numpy as np

import fastrnn
from fastrnn.kernels import cells
from fastrnn.kernels.buffers import (ForwardBuffers, LayerGrads, LayerWeights, backward_buffers, forward_buffers,
                                     fresh_scratch)
from fastrnn.kernels.dispatch import get_backend

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def rel_error(actual, expected):
    """||actual - expected|| / max(||actual||, ||expected||); 0 when both are (almost) zero."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.linalg.norm(actual), np.linalg.norm(expected))
    if scale < 1e-12:
        return 0.0
    return float(np.linalg.norm(actual - expected) / scale)


def fd_error(analytic, numeric, noise_floor=1e-10):
    """Relative error of an analytic gradient against finite differences, with an absolute floor.

    Finite differences cannot resolve values below their roundoff (about 1e-12 per element for the
    stencil below): an exact zero gradient (a dead ReLU unit) comes back as ~1e-13 noise. Errors with
    a norm under ``noise_floor`` count as zero; above it the error is relative, as in rel_error.
    """
    diff = np.linalg.norm(np.asarray(analytic, np.float64) - np.asarray(numeric, np.float64))
    if diff <= noise_floor:
        return 0.0
    return rel_error(analytic, numeric)


def make_layer(cell, input_size, hidden_size, num_layers, dtype=np.float64, random_state=0, bidirectional=False):
    """A layer of the given cell name ("rnn_tanh", "rnn_relu", "lstm", "gru")."""
    options = dict(dtype=dtype, random_state=random_state, bidirectional=bidirectional)
    if cell == "lstm":
        return fastrnn.LSTM(input_size, hidden_size, num_layers, **options)
    if cell == "gru":
        return fastrnn.GRU(input_size, hidden_size, num_layers, **options)
    return fastrnn.RNN(input_size, hidden_size, num_layers, nonlinearity=cell[4:], **options)


def make_problem(cell, n_samples, n_steps, n_features, hidden, n_layers, loss, seed, n_directions=1):
    """Random inputs, initial states and loss weights of a linear loss on outputs and final states.

    The loss is L = sum(A * out) + sum(Bh * h_n) [+ sum(Bc * c_n)], so dL/dout = A, dL/dh_n = Bh.
    ``loss`` is "last" (A is zero except at the last step) or "every".
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_steps, n_features))
    state_shape = (n_layers * n_directions, n_samples, hidden)
    h0 = rng.normal(scale=0.5, size=state_shape)
    c0 = rng.normal(scale=0.5, size=state_shape) if cell == "lstm" else None
    A = rng.normal(size=(n_samples, n_steps, n_directions * hidden))
    if loss == "last":
        A[:, :-1] = 0.0
    Bh = rng.normal(size=state_shape)
    Bc = rng.normal(size=state_shape) if cell == "lstm" else None
    return dict(X=X, h0=h0, c0=c0, A=A, Bh=Bh, Bc=Bc)


def layer_state(cell, h0, c0):
    return (h0, c0) if cell == "lstm" else h0


def linear_loss(layer, cell, X, h0, c0, A, Bh, Bc, lengths=None):
    """Value of the linear loss of :func:`make_problem` for the layer's current parameters."""
    out, state_n = layer.forward(X, layer_state(cell, h0, c0), lengths=lengths)
    value = np.sum(A * out)
    if cell == "lstm":
        value += np.sum(Bh * state_n[0]) + np.sum(Bc * state_n[1])
    else:
        value += np.sum(Bh * state_n)
    return value


def assert_gradients_match_finite_differences(layer, cell, p, grads, lengths=None, tolerance=1e-6):
    """Every parameter's, the input's and the initial state's gradient against central differences
    of the linear loss of :func:`make_problem` (float64)."""
    def loss_value():
        return linear_loss(layer, cell, **p, lengths=lengths)

    for name, value in layer.params.items():
        assert fd_error(grads[name], central_differences(loss_value, value)) < tolerance, name
    assert fd_error(grads["input"], central_differences(loss_value, p["X"])) < tolerance
    d_h0 = grads["state"][0] if cell == "lstm" else grads["state"]
    assert fd_error(d_h0, central_differences(loss_value, p["h0"])) < tolerance
    if cell == "lstm":
        assert fd_error(grads["state"][1], central_differences(loss_value, p["c0"])) < tolerance


def central_differences(f, array, eps=1e-4):
    """Gradient of the scalar function f() with respect to ``array`` (perturbed in place, restored).

    Fourth-order central stencil (f(x-2e) - 8 f(x-e) + 8 f(x+e) - f(x+2e)) / 12e: truncation error
    O(e^4), so a step of 1e-4 keeps the roundoff floor near 1e-12 and small gradients (vanishing
    through many steps) are still resolved to a relative 1e-6.
    """
    grad = np.zeros(array.shape)
    flat = array.reshape(-1)
    for idx in range(flat.size):
        saved = flat[idx]
        values = []
        for step in (-2, -1, 1, 2):
            flat[idx] = saved + step * eps
            values.append(f())
        flat[idx] = saved
        grad.reshape(-1)[idx] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
    return grad


class KernelProblem(NamedTuple):
    """One layer's kernel call: random inputs, weights, initial state and output gradients, and the
    forward buffers from the kernels' own allocation helper (:mod:`fastrnn.kernels.buffers`)."""

    kind: int
    x: np.ndarray            # (T, B, D)
    weights: LayerWeights
    forward: ForwardBuffers  # h[0] (and c[0]) hold the initial state
    d_out: np.ndarray        # (T, B, H)
    dh_n: np.ndarray         # (B, H): dL/dh_T
    dc_n: np.ndarray         # (B, H): dL/dc_T (LSTM), else None
    n_active: np.ndarray     # (T,) int64


def kernel_problem(kind, n_batch, n_steps, n_in, hidden, lengths, rng, dtype=np.float64, weight_scale=0.4):
    """A :class:`KernelProblem` of sequences of the given (decreasingly sorted) ``lengths``."""
    gate_units = cells.N_GATES[kind] * hidden
    scratch = fresh_scratch(get_backend("cpu"), dtype)
    forward = forward_buffers(kind, n_steps, n_batch, hidden, scratch)
    for array in forward:
        array[...] = 0.0
    weights = LayerWeights(rng.normal(scale=weight_scale, size=(gate_units, n_in)),
                           rng.normal(scale=weight_scale, size=(gate_units, hidden)),
                           rng.normal(scale=0.1, size=gate_units), rng.normal(scale=0.1, size=gate_units))
    forward.h[0] = rng.normal(size=(n_batch, hidden))
    has_cell = cells.HAS_CELL_STATE[kind]
    if has_cell:
        forward.c[0] = rng.normal(size=(n_batch, hidden))
    return KernelProblem(
        kind, rng.normal(size=(n_steps, n_batch, n_in)).astype(dtype),
        LayerWeights(*(w.astype(dtype) for w in weights)),
        forward, rng.normal(size=(n_steps, n_batch, hidden)).astype(dtype),
        rng.normal(size=(n_batch, hidden)).astype(dtype),
        rng.normal(size=(n_batch, hidden)).astype(dtype) if has_cell else None,
        np.array([np.count_nonzero(np.asarray(lengths) > t) for t in range(n_steps)], dtype=np.int64))


def on_backend(problem, backend):
    """A copy of ``problem`` whose arrays live on ``backend`` (``n_active`` stays a host array)."""
    def move(array):
        return None if array is None else backend.copy(backend.asarray(array, array.dtype))
    return problem._replace(x=move(problem.x), weights=LayerWeights(*map(move, problem.weights)),
                            forward=ForwardBuffers(*map(move, problem.forward)), d_out=move(problem.d_out),
                            dh_n=move(problem.dh_n), dc_n=move(problem.dc_n))


def inference_buffers(problem, backend):
    """Forward buffers for inference (one step of activations) with the problem's initial state."""
    kind, forward = problem.kind, problem.forward
    n_steps, n_batch, hidden = forward.h.shape[0] - 1, forward.h.shape[1], forward.h.shape[2]
    buffers = forward_buffers(kind, n_steps, n_batch, hidden, fresh_scratch(backend, forward.h.dtype), train=False)
    backend.assign(buffers.h[0], forward.h[0])
    backend.assign(buffers.c[0], forward.c[0])
    return buffers


def run_kernels(problem, layer_forward, layer_backward, backend=None, input_gradient=True, **options):
    """Forward then backward pass of ``problem`` with the given entry points (on ``backend``, the CPU
    by default; ``options`` go to both); returns host copies of the states, activations, state
    gradients, dx (None without ``input_gradient``) and dW."""
    backend = get_backend("cpu") if backend is None else backend
    kind, x, weights, forward = problem.kind, problem.x, problem.weights, problem.forward
    layer_forward(kind, x, weights, forward, problem.n_active, **options)
    result = {name: backend.to_host(array).copy() for name, array in zip(("h", "c", "saved"), forward)}
    scratch = fresh_scratch(backend, forward.h.dtype)
    backward = backward_buffers(kind, forward, x.shape[2], scratch, backend, problem.dh_n, problem.dc_n,
                                input_gradient=input_gradient)
    grads = LayerGrads(*(backend.empty(w.shape, w.dtype) for w in weights))
    layer_backward(kind, x, weights, forward, problem.d_out, backward, grads, problem.n_active, **options)
    for name, array in [("dh", backward.dh), ("dc", backward.dc), ("dx", backward.dx), ("dw_ih", grads.w_ih),
                        ("dw_hh", grads.w_hh), ("db_ih", grads.b_ih), ("db_hh", grads.b_hh)]:
        result[name] = None if array is None else backend.to_host(array).copy()
    return result


def loss_arguments(name, shape, n_out, dtype, weighting, seed=0, target_dtype=None, extreme=False):
    """Arguments of loss ``name`` for entries ``shape`` (leading axes) and ``n_out`` outputs.

    weighting: None, "mask" (0/1, some zeros: padded steps) or "fractional" (values in [0, 2))."""
    rng = np.random.default_rng(seed)
    scale = 400.0 if extreme else 3.0
    target_dtype = dtype if target_dtype is None else target_dtype
    if name == "squared_error":
        args = [rng.normal(size=shape + (n_out,)).astype(dtype), rng.normal(size=shape + (n_out,)).astype(target_dtype)]
    elif name == "softmax_cross_entropy":
        args = [(rng.normal(size=shape + (n_out,)) * scale).astype(dtype), rng.integers(0, n_out, size=shape)]
    else:
        args = [(rng.normal(size=shape + (1,)) * scale).astype(dtype),
                rng.integers(0, 2, size=shape).astype(target_dtype)]
    if weighting == "mask":
        weights = (rng.random(shape) > 0.3).astype(dtype)
        weights.flat[0] = 0.0
        weights.flat[-1] = 1.0
    elif weighting == "fractional":
        weights = (rng.random(shape) * 2).astype(dtype)
    else:
        weights = None
    return args + [weights]


def expected_stop(losses, baseline, updates_per_epoch, tol, n_iter_no_change, max_iter):
    """The epoch at which the documented stopping rule ends a fit whose epochs had these training
    losses (``max_iter`` when it never does), written from the manual's words: an epoch improves
    when its loss is below the best so far by more than ``tol * baseline``; training stops once more
    than ``n_iter_no_change`` epochs, spanning at least ``10 * n_iter_no_change`` updates, passed
    without improvement, counted from the first epoch whose best loss is at most 95 % of the
    baseline (no fit stops on the plateau above it)."""
    best, epochs, updates = float("inf"), 0, 0
    for epoch, loss in enumerate(losses[:max_iter], start=1):
        improved = loss <= best - tol * baseline
        best = min(best, loss)
        if improved or best > 0.95 * baseline:
            epochs, updates = 0, 0
        else:
            epochs, updates = epochs + 1, updates + updates_per_epoch
        if epochs > n_iter_no_change and updates >= 10 * n_iter_no_change:
            return epoch
    return max_iter
