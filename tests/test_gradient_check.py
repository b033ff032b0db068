"""fastrnn.check_gradients: passes on the exact BPTT of every model, fails on a wrong gradient, changes nothing."""

import numpy as np
import pytest

import fastrnn
from fastrnn import GRU, LSTM, RNN, CharRNN, Linear, RNNClassifier, RNNRegressor, Seq2Seq
from fastrnn._network import SequenceNetwork
from fastrnn.exceptions import ConvergenceWarning, NotFittedError

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 6, 2))
    return X, X[:, :, 0].sum(axis=1)


@pytest.mark.parametrize("layer,lengths", [
    (LSTM(3, 4, num_layers=2, bidirectional=True, random_state=0), None),
    (GRU(3, 4, random_state=1), [5, 2, 3]),
    (RNN(3, 4, nonlinearity="relu", bidirectional=True, random_state=2), [3, 5, 1]),
    (RNN(3, 4, num_layers=2, random_state=3), None),
    (Linear(3, 2, random_state=0), None),
])
def test_every_entry_of_every_layer_passes(layer, lengths):
    X = np.random.default_rng(5).normal(size=(3, 5, 3))
    options = {} if lengths is None else dict(lengths=lengths)
    report = fastrnn.check_gradients(layer, X, max_entries=None, **options)
    assert report.passed, str(report)
    assert [check.name for check in report.parameters] == list(layer.params)
    assert all(check.n_checked == int(np.prod(check.shape)) for check in report.parameters)
    assert report.max_abs_error < 1e-8 and report.device == "cpu"


def fitted_models(X, y):
    tiny = dict(hidden_sizes=(4,), max_iter=2, random_state=0)
    yield RNNRegressor(**{**tiny, "hidden_sizes": (4, 3)}).fit(X, y), (X, y), {}
    yield RNNClassifier(cell="gru", bidirectional=True, **tiny).fit(X, np.digitize(y, [-1, 1])), \
        (X, np.digitize(y, [-1, 1])), {}
    yield RNNRegressor(cell="rnn", output="sequence", bptt_steps=2, **tiny).fit(X, X[:, :, 1]), (X, X[:, :, 1]), {}
    text = "hello world " * 4
    yield CharRNN(seq_length=6, **{**tiny, "max_iter": 1}).fit(text), (text,), {}
    features = np.eye(2)
    yield CharRNN(cell="gru", **tiny).fit(["ab", "ba"], features=features), (["ab", "ba"],), \
        dict(features=features)
    pairs = [np.array([1, 2, 3]), np.array([2, 3])] * 2
    yield Seq2Seq(**tiny).fit(pairs, [p[::-1] for p in pairs]), (pairs, [p[::-1] for p in pairs]), {}


def test_every_estimator_passes_and_is_not_changed(series):
    X, y = series
    for model, data, options in fitted_models(X, y):
        before = model.network_.params.copy()
        report = fastrnn.check_gradients(model, *data, **options)
        assert report.passed, f"{type(model).__name__}\n{report}"
        assert [check.name for check in report.parameters] == list(model.network_.named_parameters())
        np.testing.assert_array_equal(model.network_.params, before)
        assert model.network_.params.dtype == np.float32  # the check ran on a float64 copy


def test_a_wrong_gradient_is_found_and_named(series, monkeypatch):
    X, y = series
    model = RNNRegressor(hidden_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    backward = SequenceNetwork.backward

    def off_by_a_little(self, tape, d_outputs):
        result = backward(self, tape, d_outputs)
        self._grad_views[0]["weight_hh_l0"][2, 1] += 1e-4
        return result

    monkeypatch.setattr(SequenceNetwork, "backward", off_by_a_little)
    report = fastrnn.check_gradients(model, X, y, max_entries=None)
    failed = [check.name for check in report.parameters if not check.passed]
    assert failed == ["layers.0.weight_hh_l0"] and not report.passed
    assert "FAILED" in str(report)
    layer = LSTM(2, 3, random_state=0)
    original = LSTM.backward

    def wrong_bias(self, *args, **kwargs):
        grads = original(self, *args, **kwargs)
        grads["bias_ih_l0"] = grads["bias_ih_l0"] * 1.01
        return grads

    monkeypatch.setattr(LSTM, "backward", wrong_bias)
    report = fastrnn.check_gradients(layer, X[:3])
    assert [check.name for check in report.parameters if not check.passed] == ["bias_ih_l0"]
    assert report.max_rel_error > 1e-3


def test_labels_a_file_could_not_hold_are_no_obstacle(series):
    """The float64 copy is made in memory: labels that save refuses (tuples) are copied as they are."""
    X, y = series
    labels = np.empty(len(y), dtype=object)
    labels[:] = [("up", 1) if v > 0 else ("down", 0) for v in y]
    model = RNNClassifier(hidden_sizes=(3,), max_iter=1, random_state=0).fit(X, labels)
    assert fastrnn.check_gradients(model, X, labels, max_entries=3).passed


def test_bad_arguments(series):
    X, y = series
    with pytest.raises(NotFittedError):
        fastrnn.check_gradients(RNNRegressor(), X, y)
    with pytest.raises(ValueError, match="epsilon must be"):
        fastrnn.check_gradients(LSTM(2, 3), X, epsilon=0)
    with pytest.raises(ValueError, match="max_entries"):
        fastrnn.check_gradients(LSTM(2, 3), X, max_entries=0)
    with pytest.raises(TypeError, match="Linear.forward takes no options"):
        fastrnn.check_gradients(Linear(2, 3), X, lengths=[1] * len(X))
