"""inspect() equals the naive reference's states and gates; gradient_flow() equals autograd's dL/dh_t."""

import numpy as np
import pytest

import fastrnn
from fastrnn import GRU, LSTM, RNN, CharRNN, RNNClassifier, RNNRegressor
from fastrnn.exceptions import ConvergenceWarning

import reference

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
REFERENCE_GATES = {"lstm": {"i": "i", "f": "f", "g": "g", "o": "o"}, "gru": {"r": "r", "z": "u", "n": "n"}}


def reference_internals(cell, params, X, n_layers, hidden, suffix=""):
    """Per layer, the reference's h, c and gates as (n_samples, n_timesteps, hidden) arrays."""
    named = {f"{kind}_l{k}": params[f"{kind}_l{k}{suffix}"] for k in range(n_layers)
             for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    zeros = np.zeros((n_layers, X.shape[0], hidden))
    _, _, _, tape = reference.forward(cell, named, X, zeros, zeros if cell == "lstm" else None)
    names = {"h": "h", **({"c": "c"} if cell == "lstm" else {}), **REFERENCE_GATES.get(cell, {})}
    return [{ours: np.array([[step[theirs] for step in sample[k]] for sample in tape]) for ours, theirs in names.items()}
            for k in range(n_layers)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_layer_internals_equal_the_reference(cell):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 6, 2))
    options = dict(nonlinearity=cell[4:]) if cell.startswith("rnn") else {}
    layer = {"lstm": LSTM, "gru": GRU}.get(cell, RNN)(2, 4, num_layers=2, dtype=np.float64, random_state=0, **options)
    internals = layer.inspect(X)
    expected = reference_internals(cell, layer.params, X, 2, 4)
    assert len(internals) == 2
    for ours, theirs in zip(internals, expected):
        assert sorted(ours) == sorted(theirs)
        for name in theirs:
            np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_bidirectional_internals_with_lengths():
    """The reverse direction at time t equals the reference run over each sequence reversed within its
    own length; steps past a length are NaN."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 5, 2))
    lengths = [3, 5, 2]
    layer = LSTM(2, 3, bidirectional=True, dtype=np.float64, random_state=0)
    internals = layer.inspect(X, lengths=lengths)[0]
    assert sorted(internals) == sorted(n + s for n in ("h", "c", "i", "f", "g", "o") for s in ("", "_reverse"))
    for b, length in enumerate(lengths):
        sequence = X[b:b + 1, :length]
        forward = reference_internals("lstm", layer.params, sequence, 1, 3)[0]
        backward = reference_internals("lstm", layer.params, sequence[:, ::-1], 1, 3, suffix="_reverse")[0]
        for name in forward:
            np.testing.assert_allclose(internals[name][b, :length], forward[name][0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(internals[name + "_reverse"][b, :length], backward[name][0, ::-1],
                                       rtol=1e-12, atol=1e-14)
            assert np.isnan(internals[name][b, length:]).all()


def test_estimator_internals_are_what_predict_reads():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 7, 2))
    model = RNNRegressor(cell="gru", hidden_sizes=(4, 3), max_iter=2, dtype="float64", random_state=0)
    model.fit(X, X[:, :, 0].sum(axis=1))
    internals = model.inspect(X)
    assert [sorted(layer) for layer in internals] == [["h", "n", "r", "z"]] * 2
    assert internals[1]["h"].shape == (12, 7, 3)
    head = model.network_.head.params
    np.testing.assert_allclose(internals[1]["h"][:, -1] @ head["weight"][0] + head["bias"][0], model.predict(X),
                               rtol=1e-12)
    ragged = [X[0, :4], X[1], X[2, :2]]
    for b, internal in enumerate(model.inspect(ragged)[0]["h"]):
        alone = model.inspect(ragged[b][np.newaxis])[0]["h"][0]
        np.testing.assert_allclose(internal[:len(ragged[b])], alone, rtol=1e-12)
        assert np.isnan(internal[len(ragged[b]):]).all()


def test_char_rnn_internals_follow_the_text():
    model = CharRNN(hidden_sizes=(5,), seq_length=8, max_iter=1, random_state=0).fit("abcabcabd " * 5)
    internals = model.inspect(["abcab", "ab"])[0]
    assert internals["c"].shape == (2, 5, 5)
    np.testing.assert_allclose(internals["h"][1, :2], model.inspect("ab")[0]["h"][0], rtol=1e-6)
    assert np.isnan(internals["h"][1, 2:]).all()


def test_inspecting_a_layer_leaves_its_backward_to_the_last_forward():
    rng = np.random.default_rng(7)
    X1, X2 = rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 2))
    layer = GRU(2, 3, dtype=np.float64, random_state=0)
    out, _ = layer.forward(X1)
    expected = layer.backward(np.ones_like(out))["weight_hh_l0"]
    layer.forward(X1)
    layer.inspect(X2)
    np.testing.assert_array_equal(layer.backward(np.ones_like(out))["weight_hh_l0"], expected)


# ---------------------------------------------------------------------------------- gradient flow
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def autograd_flow(cell, layer_params, X, step, loss_of_top, initial=None):
    """||dL_i/dh^k_t|| by PyTorch's own cells and autograd (float64): the oracle.

    ``layer_params``: per layer, the single-layer parameters (``*_l0``); ``loss_of_top(h)``: the summed
    per-sample losses of the top layer's state after ``step``; ``initial``: per layer, the initial
    hidden state as a tensor (None: zeros; the LSTM's cell state starts at zero).
    """
    import torch
    cells = []
    for params in layer_params:
        hidden, n_in = params["weight_hh_l0"].shape[1], params["weight_ih_l0"].shape[1]
        if cell == "lstm":
            module = torch.nn.LSTMCell(n_in, hidden)
        elif cell == "gru":
            module = torch.nn.GRUCell(n_in, hidden)
        else:
            module = torch.nn.RNNCell(n_in, hidden, nonlinearity=cell[4:])
        module = module.double()
        with torch.no_grad():
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(module, kind).copy_(torch.from_numpy(np.asarray(params[f"{kind}_l0"], np.float64)))
        cells.append(module)
    x = torch.from_numpy(np.asarray(X, np.float64))
    n = x.shape[0]
    states = [(torch.zeros(n, p["weight_hh_l0"].shape[1], dtype=torch.float64),) * 2 for p in layer_params]
    if initial is not None:
        states = [(h, c) for h, (_, c) in zip(initial, states)]
    kept = [[] for _ in cells]
    for t in range(step + 1):
        layer_input = x[:, t]
        for k, module in enumerate(cells):
            if cell == "lstm":
                h, c = module(layer_input, states[k])
                states[k] = (h, c)
            else:
                h = module(layer_input, states[k][0])
                states[k] = (h, h)
            h.retain_grad()
            kept[k].append(h)
            layer_input = h
    loss_of_top(kept[-1][-1]).backward()
    return np.array([[h.grad.norm(dim=1).numpy() for h in layer] for layer in kept]).transpose(0, 2, 1)  # (L, n, T)


def single_layer_params(layer, k):
    return {f"{kind}_l0": layer.params[f"{kind}_l{k}"] for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("step", [-1, 3])
def test_layer_gradient_flow_equals_autograd(cell, step, torch):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3, 7, 2))
    options = dict(nonlinearity=cell[4:]) if cell.startswith("rnn") else {}
    layer = {"lstm": LSTM, "gru": GRU}.get(cell, RNN)(2, 4, num_layers=2, dtype=np.float64, random_state=1, **options)
    flow = layer.gradient_flow(X, step=step, per_sample=True)
    expected = autograd_flow(cell, [single_layer_params(layer, k) for k in range(2)], X, step % 7, lambda h: h.sum())
    assert flow.step == step % 7 and flow.norms.shape == (2, 3, step % 7 + 1)
    np.testing.assert_array_equal(flow.distance, flow.step - np.arange(flow.step + 1))
    np.testing.assert_allclose(flow.norms, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(layer.gradient_flow(X, step=step).norms, expected.mean(axis=1), rtol=1e-10)


def test_layer_gradient_flow_equals_what_backward_gives():
    """For one layer, dL/dh_t is the initial-state gradient that backward returns for the rest of the
    sequence started from the state after step t (the loss: the outputs summed at the last step)."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(4, 6, 2))
    layer = LSTM(2, 3, dtype=np.float64, random_state=2)
    flow = layer.gradient_flow(X, per_sample=True)
    internals = layer.inspect(X)[0]
    for t in range(5):
        state = (internals["h"][:, t][np.newaxis], internals["c"][:, t][np.newaxis])
        out, _ = layer.forward(X[:, t + 1:], state=state)
        d_out = np.zeros_like(out)
        d_out[:, -1] = 1.0
        dh = layer.backward(d_out)["state"][0][0]
        np.testing.assert_allclose(flow.norms[0, :, t], np.linalg.norm(dh, axis=1), rtol=1e-10)


def test_estimator_gradient_flow_equals_autograd(torch):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 6, 2))
    y = X[:, :, 0].sum(axis=1)
    model = RNNRegressor(hidden_sizes=(4, 3), max_iter=2, dtype="float64", random_state=0).fit(X, y)
    head = {name: torch.from_numpy(value.copy()) for name, value in model.network_.head.params.items()}
    target = torch.from_numpy(y)

    def squared_error(h):
        return 0.5 * ((h @ head["weight"].T + head["bias"])[:, 0] - target).pow(2).sum()

    expected = autograd_flow("lstm", [layer.params for layer in model.network_.layers], X, 5, squared_error)
    np.testing.assert_allclose(model.gradient_flow(X, y, per_sample=True).norms, expected, rtol=1e-10, atol=1e-14)
    tags = np.cumsum(X[:, :, 0], axis=1) > 0
    classifier = RNNClassifier(cell="gru", output="sequence", hidden_sizes=(4,), max_iter=2, dtype="float64",
                               random_state=0).fit(X, tags)
    head = {name: torch.from_numpy(value.copy()) for name, value in classifier.network_.head.params.items()}
    labels = torch.from_numpy(tags[:, 3].astype(np.float64))

    def binary_cross_entropy(h):
        logits = (h @ head["weight"].T + head["bias"])[:, 0]
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")

    expected = autograd_flow("gru", [classifier.network_.layers[0].params], X, 3, binary_cross_entropy)
    np.testing.assert_allclose(classifier.gradient_flow(X, tags, step=3).norms, expected.mean(axis=1), rtol=1e-10)


def test_char_rnn_gradient_flow_equals_autograd(torch):
    text = "the cat sat on the mat. "
    model = CharRNN(cell="rnn", hidden_sizes=(6,), seq_length=8, max_iter=1, dtype="float64", random_state=0)
    model.fit(text * 4)
    texts = ["the cat sat", "on the mat."]
    codes = np.array([[model.vocabulary_.index(ch) for ch in t] for t in texts])
    one_hot = np.eye(len(model.vocabulary_))[codes[:, :-1]]
    head = {name: torch.from_numpy(value.copy()) for name, value in model.network_.head.params.items()}

    def cross_entropy(h):
        logits = h @ head["weight"].T + head["bias"]
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(codes[:, -1]), reduction="sum")

    expected = autograd_flow("rnn_tanh", [model.network_.layers[0].params], one_hot, 9, cross_entropy)
    np.testing.assert_allclose(model.gradient_flow(texts).norms, expected.mean(axis=1), rtol=1e-10)


def test_gradient_flow_errors():
    X = np.zeros((2, 4, 2))
    with pytest.raises(ValueError, match="unidirectional"):
        LSTM(2, 3, bidirectional=True).gradient_flow(X)
    with pytest.raises(ValueError, match="step must be an integer step of the 4 time steps"):
        LSTM(2, 3).gradient_flow(X, step=4)
    model = RNNRegressor(hidden_sizes=(3,), max_iter=1, random_state=0).fit(np.ones((4, 3, 1)), np.ones(4))
    with pytest.raises(ValueError, match="equal length"):
        model.gradient_flow([np.ones(3), np.ones(2)], [1.0, 1.0])
    assert isinstance(model.gradient_flow(np.ones((4, 3, 1)), np.ones(4)), fastrnn.inspection.GradientFlow)


def test_conditioned_char_rnn_gradient_flow_equals_autograd(torch):
    """The flow starts from the states the bridges compute from the features; the inputs start with the
    start symbol, and the last step's target is the end symbol."""
    features = np.array([[1.0, 0.0], [0.0, 1.0]])
    model = CharRNN(cell="lstm", hidden_sizes=(4, 3), max_iter=1, dtype="float64", random_state=0)
    model.fit(["abcab", "bacba"], features=features)
    texts = ["abcab", "bacba"]
    end = len(model.vocabulary_)
    codes = np.array([[end] + [model.vocabulary_.index(ch) for ch in t] for t in texts])  # start symbol first
    one_hot = np.eye(end + 1)[codes]
    network = model.network_
    initial = [torch.from_numpy(features @ bridge.params["weight"].T + bridge.params["bias"])
               for bridge in network.bridges]
    head = {name: torch.from_numpy(value.copy()) for name, value in network.head.params.items()}

    def end_symbol_loss(h):
        logits = h @ head["weight"].T + head["bias"]
        return torch.nn.functional.cross_entropy(logits, torch.full((2,), end), reduction="sum")

    expected = autograd_flow("lstm", [layer.params for layer in network.layers], one_hot, 5, end_symbol_loss,
                             initial)
    flow = model.gradient_flow(texts, features=features, per_sample=True)
    assert flow.step == 5
    np.testing.assert_allclose(flow.norms, expected, rtol=1e-10, atol=1e-14)
