"""to_torch() gives a torch.nn.Module that computes what the estimator computes; from_torch() brings
weights back.

Outputs are compared with an absolute tolerance (``rtol=0``): 1e-5 in float32, 1e-10 in float64. The
values compared (predictions, logits of tiny networks) are of order 1, so this is also a relative
bound of the same size.
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from fastrnn import CharRNN, RNNClassifier, RNNRegressor, Seq2Seq
from fastrnn.exceptions import ConvergenceWarning, NotFittedError

torch = pytest.importorskip("torch")

ATOL = {"float32": 1e-5, "float64": 1e-10}
CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]
RAGGED_LENGTHS = [7, 3, 5, 1, 6, 2]  # the first len(...) sequences of a batch, cut to these lengths


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _evaluate(module, *args, **kwargs):
    """module(*args) without autograd, as numpy (a tuple's first item: the outputs)."""
    with torch.no_grad():
        out = module(*args, **kwargs)
    return (out[0] if isinstance(out, tuple) else out).numpy()


def _data(n_samples=20, n_steps=7, n_features=3, seed=0):
    """Sequences X (n, T, D) and per-sequence sums (n,) and per-step cumulative sums (n, T)."""
    X = np.random.default_rng(seed).normal(size=(n_samples, n_steps, n_features))
    return X, X.sum(axis=(1, 2)), X.sum(axis=2).cumsum(axis=1)


def _ragged(X):
    """The first sequences of X cut to RAGGED_LENGTHS: a list, and the zero-padded batch."""
    sequences = [X[i, :length] for i, length in enumerate(RAGGED_LENGTHS)]
    padded = np.zeros((len(sequences),) + X.shape[1:])
    for i, sequence in enumerate(sequences):
        padded[i, :len(sequence)] = sequence
    return sequences, padded


def _assert_per_sequence_equal(module_out, expected_list, atol):
    """Padded module outputs (B, T, ...) equal the per-sequence arrays within their lengths, and are
    zero past them."""
    for row, expected in zip(module_out, expected_list):
        np.testing.assert_allclose(row[:len(expected)], expected, rtol=0, atol=atol)
        assert np.all(row[len(expected):] == 0)


def _fit_regressor(cell="lstm", nonlinearity="tanh", dtype="float64", output="last", bidirectional=False,
                   n_outputs=1):
    X, sums, cumulative = _data()
    y = sums if output == "last" else cumulative
    if n_outputs > 1:
        y = np.stack([y, -y], axis=-1)
    model = RNNRegressor(cell=cell, nonlinearity=nonlinearity, hidden_sizes=(5, 4), output=output,
                         bidirectional=bidirectional, dtype=dtype, max_iter=2, random_state=0)
    return model.fit(X, y), X


def _fit_classifier(cell="lstm", nonlinearity="tanh", dtype="float64", output="last", bidirectional=False,
                    n_classes=2):
    X, sums, cumulative = _data()
    values = sums if output == "last" else cumulative
    labels = np.array(["a", "b", "c"])[:n_classes]
    y = labels[np.digitize(values, np.quantile(values, np.linspace(0, 1, n_classes + 1)[1:-1]))]
    model = RNNClassifier(cell=cell, nonlinearity=nonlinearity, hidden_sizes=(5, 4), output=output,
                          bidirectional=bidirectional, dtype=dtype, max_iter=2, random_state=0)
    return model.fit(X, y), X


# ---------------------------------------------------------------------- regressor and classifier
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell,nonlinearity", CELLS)
def test_regressor_forward_equals_predict(cell, nonlinearity, bidirectional, output, dtype):
    model, X = _fit_regressor(cell, nonlinearity, dtype, output, bidirectional)
    module = model.to_torch()
    np.testing.assert_allclose(_evaluate(module, X), model.predict(X), rtol=0, atol=ATOL[dtype])
    # sequences of different lengths: a list to predict, the padded batch and its lengths to the module
    sequences, padded = _ragged(X)
    module_out = _evaluate(module, padded, RAGGED_LENGTHS)
    if output == "last":
        np.testing.assert_allclose(module_out, model.predict(sequences), rtol=0, atol=ATOL[dtype])
    else:
        _assert_per_sequence_equal(module_out, model.predict(sequences), ATOL[dtype])


@pytest.mark.parametrize("output", ["last", "sequence"])
def test_regressor_with_several_outputs(output):
    model, X = _fit_regressor(output=output, n_outputs=2)
    out = _evaluate(model.to_torch(), X)
    assert out.shape == ((20, 2) if output == "last" else (20, 7, 2))
    np.testing.assert_allclose(out, model.predict(X), rtol=0, atol=ATOL["float64"])


def test_univariate_series_as_2d_input():
    X = np.random.default_rng(1).normal(size=(12, 6))
    model = RNNRegressor(hidden_sizes=(4,), max_iter=2, random_state=0).fit(X, X.sum(axis=1))
    module = model.to_torch()
    np.testing.assert_allclose(_evaluate(module, torch.from_numpy(X)), model.predict(X), rtol=0,
                               atol=ATOL["float32"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("cell,nonlinearity", CELLS)
def test_classifier_forward_equals_decision_function(cell, nonlinearity, n_classes, output, dtype):
    model, X = _fit_classifier(cell, nonlinearity, dtype, output, bidirectional=n_classes == 3, n_classes=n_classes)
    module = model.to_torch()
    atol = ATOL[dtype]
    np.testing.assert_allclose(_evaluate(module, X), model.decision_function(X), rtol=0, atol=atol)
    with torch.no_grad():
        proba = module.predict_proba(X).numpy()
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=atol)
    np.testing.assert_array_equal(module.classes_, model.classes_)
    sequences, padded = _ragged(X)
    module_out = _evaluate(module, padded, torch.tensor(RAGGED_LENGTHS))
    if output == "last":
        np.testing.assert_allclose(module_out, model.decision_function(sequences), rtol=0, atol=atol)
    else:
        _assert_per_sequence_equal(module_out, model.decision_function(sequences), atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_module_is_plain_torch_in_the_model_dtype(dtype):
    model, X = _fit_classifier(dtype=dtype, bidirectional=True)
    module = model.to_torch()
    assert not module.training
    assert list(module.state_dict()) == list(model.network_.named_parameters())
    assert all(isinstance(layer, torch.nn.LSTM) and layer.batch_first and layer.bidirectional
               for layer in module.layers)
    assert isinstance(module.head, torch.nn.Linear)
    assert {p.dtype for p in module.parameters()} == {getattr(torch, dtype)}
    assert {p.device.type for p in module.parameters()} == {"cpu"}
    before = model.decision_function(X)
    with torch.no_grad():  # a copy: editing the module leaves the estimator alone
        for parameter in module.parameters():
            parameter.add_(1.0)
    np.testing.assert_array_equal(model.decision_function(X), before)


def test_module_pickles():
    model, X = _fit_classifier(n_classes=3)
    module = model.to_torch()
    copied = pickle.loads(pickle.dumps(module))
    np.testing.assert_array_equal(_evaluate(copied, X), _evaluate(module, X))
    np.testing.assert_array_equal(copied.classes_, model.classes_)


@pytest.mark.parametrize("lengths,message", [([3, 2], "one length per sequence"), ([8] * 20, "lie in 1..7"),
                                             ([0] * 20, "lie in 1..7"), ([1.5] * 20, "integers")])
def test_bad_lengths_are_rejected(lengths, message):
    model, X = _fit_regressor()
    with pytest.raises(ValueError, match=message):
        model.to_torch()(X, lengths)


def test_wrong_number_of_features_is_rejected():
    model, X = _fit_regressor()
    with pytest.raises(ValueError, match=r"shape \(batch, steps, 3\)"):
        model.to_torch()(X[:, :, :2])


# ---------------------------------------------------------------------- CharRNN
TEXT = "the cat sat on the mat. the rat ran. "


def _network_states(torch_states):
    """Torch per-layer states as the network's: (h, c) numpy pairs, c None without a cell state."""
    return [(state[0].numpy(), state[1].numpy()) if isinstance(state, tuple) else (state.numpy(), None)
            for state in torch_states]


def _batch_first(codes_tm, model):
    """One-hot (B, T, n_symbols) inputs for time-major codes, and the same time-major."""
    x_tm = model._one_hot(codes_tm)
    return np.ascontiguousarray(x_tm.transpose(1, 0, 2)), x_tm


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_rnn_logits_and_states(cell, dtype):
    model = CharRNN(cell=cell, hidden_sizes=(6, 5), seq_length=8, batch_size=4, max_iter=2, dtype=dtype,
                    random_state=0).fit(TEXT)
    module = model.to_torch()
    assert module.vocabulary_ == model.vocabulary_
    codes = model._encode(TEXT, "X")[:30].reshape(3, 10).T  # (T, B) = (10, 3)
    network = model.network_
    first, second = codes[:6], codes[6:]
    x_first, x_first_tm = _batch_first(first, model)
    x_second, x_second_tm = _batch_first(second, model)
    with torch.no_grad():
        logits, state = module(torch.from_numpy(x_first))
        logits_next, _ = module(torch.from_numpy(x_second), state)
    expected, tape = network.forward(x_first_tm, train=False)
    expected_next, _ = network.forward(x_second_tm, network.final_states(tape), train=False)
    np.testing.assert_allclose(logits.numpy(), expected.transpose(1, 0, 2), rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(logits_next.numpy(), expected_next.transpose(1, 0, 2), rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_conditioned_char_rnn_logits_and_states(cell):
    texts = ["abc", "ab", "cab", "ba", "ca"]
    features = np.random.default_rng(0).normal(size=(5, 3))
    model = CharRNN(cell=cell, hidden_sizes=(6, 5), batch_size=4, max_iter=2, dtype="float64",
                    random_state=0).fit(texts, features=features)
    module = model.to_torch()
    assert module.start_symbol == len(model.vocabulary_) and module.n_conditions_ == 3
    inputs, _, _ = model._teacher_forcing([model._encode(text, "X") for text in texts])  # (T, B)
    x, x_tm = _batch_first(inputs, model)
    network = model.network_
    with torch.no_grad():
        logits, state = module(torch.from_numpy(x), features=torch.from_numpy(features))
        logits_next, _ = module(torch.from_numpy(x[:, :1]), state=state)
    expected, tape = network.forward(x_tm, features, train=False)
    expected_next, _ = network.continue_from(x_tm[:1], network.final_states(tape))
    np.testing.assert_allclose(logits.numpy(), expected.transpose(1, 0, 2), rtol=0, atol=ATOL["float64"])
    np.testing.assert_allclose(logits_next.numpy(), expected_next.transpose(1, 0, 2), rtol=0, atol=ATOL["float64"])
    with pytest.raises(ValueError, match="either features"):
        module(torch.from_numpy(x))


# ---------------------------------------------------------------------- Seq2Seq
def _token_pairs():
    rng = np.random.default_rng(0)
    X = [rng.integers(1, 6, size=n) for n in (4, 2, 5, 3, 5, 1)]
    return X, [x[::-1] * 10 for x in X]


def _numeric_pairs():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(n, 2)) for n in (4, 2, 5, 3)]
    return X, [np.array([x[:, 0].sum(), x[:, 1].sum(), x.sum()]) for x in X]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["tokens", "numeric"])
def test_seq2seq_teacher_forcing_equals_network(kind, dtype):
    X, Y = _token_pairs() if kind == "tokens" else _numeric_pairs()
    model = Seq2Seq(cell="gru" if kind == "numeric" else "lstm", hidden_sizes=(5, 4), batch_size=8, max_iter=3,
                    dtype=dtype, random_state=0).fit(X, Y)
    x, lengths = model._encoder_inputs([np.asarray(a) for a in X], kind == "tokens", "X")  # (n, T_in, D_in)
    y_in, _, _ = model._teacher_forcing(Y)  # (n, T_out, D_out)
    module = model.to_torch()
    outputs = _evaluate(module, x, lengths, y_in)  # the batch in any order (packed)
    order = np.argsort(-lengths, kind="stable")  # the network takes it sorted by decreasing length
    expected, _ = model.network_.forward(np.ascontiguousarray(x[order].transpose(1, 0, 2)), lengths[order],
                                         np.ascontiguousarray(y_in[order].transpose(1, 0, 2)), train=False)
    np.testing.assert_allclose(outputs[order], expected.transpose(1, 0, 2), rtol=0, atol=ATOL[dtype])


def test_seq2seq_greedy_decoding_in_torch_equals_predict():
    X, Y = _token_pairs()
    model = Seq2Seq(hidden_sizes=(6,), batch_size=8, max_iter=3, random_state=0, max_output_length=6).fit(X, Y)
    module = model.to_torch()
    x, lengths = model._encoder_inputs(X, True, "X")
    end = len(model.output_vocabulary_)
    step = torch.zeros(len(X), 1, end + 1)
    step[:, 0, end] = 1.0  # the start token
    codes = []
    with torch.no_grad():
        states = module.encode(torch.from_numpy(x), lengths)
        for _ in range(6):
            logits, states = module.decode(step, states)
            best = logits[:, 0].argmax(dim=1)
            codes.append(best)
            step = torch.nn.functional.one_hot(best, end + 1).to(step.dtype)[:, None]
    codes = torch.stack(codes, dim=1).numpy()
    decoded = [model.output_vocabulary_[row[:np.argmax(row == end)] if (row == end).any() else row] for row in codes]
    for ours, theirs in zip(decoded, model.predict(X)):
        np.testing.assert_array_equal(ours, theirs)


# ---------------------------------------------------------------------- from_torch
def _fitted_models():
    """One small fitted model of each kind, with inputs its predict takes."""
    texts, features = ["abc", "ab", "cab"], np.random.default_rng(0).normal(size=(3, 2))
    regressor, X = _fit_regressor(bidirectional=True, output="sequence")
    classifier, _ = _fit_classifier(n_classes=3, dtype="float32")
    X_tokens, Y_tokens = _token_pairs()
    return {
        "regressor": (regressor, lambda m: m.predict(X)),
        "classifier": (classifier, lambda m: m.predict_proba(X)),
        "char_rnn": (CharRNN(hidden_sizes=(5,), seq_length=8, max_iter=2, random_state=0).fit(TEXT),
                     lambda m: m.perplexity(TEXT)),
        "conditioned": (CharRNN(cell="gru", hidden_sizes=(5, 4), max_iter=2, random_state=0).fit(texts, features=features),
                        lambda m: m.perplexity(texts, features=features)),
        "seq2seq": (Seq2Seq(hidden_sizes=(5,), max_iter=2, random_state=0, max_output_length=4).fit(X_tokens, Y_tokens),
                    lambda m: m.predict(X_tokens)),
    }


def _assert_same_predictions(a, b):
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_round_trip_is_bit_identical():
    for name, (model, predict) in _fitted_models().items():
        imported = model.from_torch(model.to_torch())
        assert imported is not model and type(imported) is type(model), name
        np.testing.assert_array_equal(imported.network_.params, model.network_.params)
        assert imported.network_.params is not model.network_.params
        _assert_same_predictions(predict(imported), predict(model))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fine_tuned_module_comes_back(dtype):
    model, X = _fit_regressor(cell="gru", dtype=dtype, output="sequence")
    _, _, targets = _data()
    before = model.predict(X)
    module = model.to_torch()
    module.train()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.05)
    inputs, targets = torch.as_tensor(X, dtype=module.head.weight.dtype), torch.as_tensor(targets)
    for _ in range(3):
        optimizer.zero_grad()
        loss = torch.mean((module(inputs) - targets) ** 2)
        loss.backward()
        optimizer.step()
    module.eval()
    tuned_state = {name: value.clone() for name, value in module.state_dict().items()}
    imported = model.from_torch(module)
    tuned_out = _evaluate(module, X)
    assert np.abs(tuned_out - before).max() > 1e-3  # the weights did change
    np.testing.assert_allclose(imported.predict(X), tuned_out, rtol=0, atol=ATOL[dtype])
    np.testing.assert_array_equal(model.predict(X), before)  # the original is unchanged, and so is the module
    assert all(torch.equal(value, tuned_state[name]) for name, value in module.state_dict().items())


def test_shifted_head_bias():
    model, X = _fit_regressor()
    module = model.to_torch()
    with torch.no_grad():
        module.head.bias += 0.1
    np.testing.assert_allclose(model.from_torch(module).predict(X), model.predict(X) + 0.1, rtol=0, atol=1e-12)


def test_weights_are_converted_to_the_model_dtype():
    model, X = _fit_regressor(dtype="float64")
    module = model.to_torch().float()
    imported = model.from_torch(module)
    assert imported.network_.params.dtype == np.float64
    np.testing.assert_array_equal(imported.network_.params, model.network_.params.astype(np.float32))
    np.testing.assert_allclose(imported.predict(X), _evaluate(module, X), rtol=0, atol=ATOL["float32"])


def test_a_state_dict_is_accepted():
    model, X = _fit_regressor()
    state = {name: value.numpy() for name, value in model.to_torch().state_dict().items()}
    np.testing.assert_array_equal(model.from_torch(state).predict(X), model.predict(X))


# ---------------------------------------------------------------------- errors
def test_unfitted_estimator():
    for model in (RNNRegressor(), RNNClassifier(), CharRNN(), Seq2Seq()):
        with pytest.raises(NotFittedError):
            model.to_torch()
        with pytest.raises(NotFittedError):
            model.from_torch({})


def _edited_state(model, edit):
    state = dict(model.to_torch().state_dict())
    edit(state)
    return state


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.pop("layers.1.bias_hh_l0"), r"missing keys \['layers.1.bias_hh_l0'\], unexpected keys \[\]"),
    (lambda s: s.update({"extra.weight": torch.zeros(2)}), r"unexpected keys \['extra.weight'\]"),
    (lambda s: s.update({"head.weight": torch.zeros(1, 3, dtype=torch.float64)}),
     r"'head.weight' has shape \(1, 3\); this RNNRegressor expects \(1, 4\)"),
    (lambda s: s["layers.0.weight_ih_l0"].__setitem__((0, 0), float("nan")), "'layers.0.weight_ih_l0' contains NaN"),
])
def test_bad_modules_are_rejected(edit, message):
    model, X = _fit_regressor()
    before = model.predict(X)
    with pytest.raises(ValueError, match=message):
        model.from_torch(_edited_state(model, edit))
    np.testing.assert_array_equal(model.predict(X), before)


def test_values_too_large_for_float32_are_rejected():
    model, _ = _fit_regressor(dtype="float32")
    state = _edited_state(model, lambda s: s.update({"head.bias": torch.full((1,), 1e39, dtype=torch.float64)}))
    with pytest.raises(ValueError, match="'head.bias' holds values too large for float32"):
        model.from_torch(state)


def test_not_a_module():
    model, _ = _fit_regressor()
    with pytest.raises(TypeError, match="takes a torch.nn.Module"):
        model.from_torch(42)


def test_missing_torch_is_a_clear_import_error(monkeypatch):
    model, _ = _fit_regressor()
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match="pip install torch"):
        model.to_torch()


def test_import_fastrnn_does_not_import_torch():
    code = "import sys, fastrnn, fastrnn._torch_export; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
