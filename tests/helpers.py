"""Small helpers shared by the tests: relative errors, random problems, finite differences."""

import numpy as np

import fastrnn

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
