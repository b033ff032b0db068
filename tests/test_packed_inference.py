"""Inference through the packed network (:func:`fastrnn.kernels.cpu.stream.sequence_outputs`).

A single sequence is predicted by one compiled call over every layer and the head instead of the
batched layer kernels. Its products are summed in another order, so it must agree with the batched
path to rounding (1e-6 in float32, 1e-12 in float64) for every cell, stacked layers, both outputs,
initial states and sequences of different lengths, and be used exactly where it is meant to be.
"""

import warnings

import numpy as np
import pytest

from fastrnn import RNNClassifier, RNNRegressor
from fastrnn.exceptions import ConvergenceWarning
from fastrnn.kernels import config
from fastrnn.kernels.cpu import stream

from helpers import rel_error

TOLERANCE = {"float32": 1e-6, "float64": 1e-12}
CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]


def _fit(estimator, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator(max_iter=3, batch_size=4, random_state=0, device="cpu", **params).fit(X, y)


def _both_paths(monkeypatch, predict, max_rows=8):
    """``predict()`` through the packed network (up to ``max_rows`` sequences), then batched."""
    monkeypatch.setattr(config, "PACKED_INFERENCE_MAX_ROWS", max_rows)
    packed = predict()
    monkeypatch.setattr(config, "PACKED_INFERENCE_MAX_ROWS", 0)
    return packed, predict()


@pytest.fixture
def packed_calls(monkeypatch):
    """How many times the packed network ran."""
    calls = []
    original = stream.sequence_outputs.__call__

    class Counting(type(stream.sequence_outputs)):
        def __call__(self, *args):
            calls.append(1)
            return original(*args)

    monkeypatch.setattr(stream.sequence_outputs, "__class__", Counting)
    return calls


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell,nonlinearity", CELLS)
def test_one_sequence_agrees_with_the_batched_layers(monkeypatch, cell, nonlinearity, dtype, output):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 9, 3))
    y = rng.normal(size=(8, 9, 2)) if output == "sequence" else rng.normal(size=(8, 2))
    model = _fit(RNNRegressor, X, y, cell=cell, nonlinearity=nonlinearity, hidden_sizes=(7, 5, 4), output=output,
                 dtype=dtype)
    for x in (X[:1], X[5:6]):
        packed, batched = _both_paths(monkeypatch, lambda: model.predict(x), max_rows=1)
        assert packed.shape == batched.shape
        assert rel_error(packed, batched) <= TOLERANCE[dtype]


@pytest.mark.parametrize("cell,nonlinearity", CELLS)
def test_initial_states_and_different_lengths(monkeypatch, cell, nonlinearity):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 6, 2))
    y = rng.normal(size=(8, 6))
    for output, targets in (("last", y[:, -1]), ("sequence", y)):
        model = _fit(RNNRegressor, X, targets, cell=cell, nonlinearity=nonlinearity, hidden_sizes=(5, 3),
                     output=output, dtype="float64")
        ragged = [rng.normal(size=(n, 2)) for n in (4, 6, 2, 5)]  # sorted inside predict, any order here
        packed, batched = _both_paths(monkeypatch, lambda: model.predict(ragged))
        for a, b in zip(packed, batched) if output == "sequence" else [(packed, batched)]:
            assert rel_error(a, b) <= TOLERANCE["float64"]
        states = [rng.normal(size=(4, size)) for size in (5, 3)]
        if cell == "lstm":
            states = [(h, rng.normal(size=h.shape)) for h in states]
        packed, batched = _both_paths(monkeypatch, lambda: model.predict(X[:4], initial_state=states))
        assert rel_error(packed, batched) <= TOLERANCE["float64"]
        assert rel_error(packed, model.predict(X[:4])) > 1e-3  # the states mattered


def test_a_classifier_agrees_in_every_method(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 5, 2)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 4)
    model = _fit(RNNClassifier, X, y, hidden_sizes=(6,))
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        packed, batched = _both_paths(monkeypatch, lambda: getattr(model, method)(X[2:3]), max_rows=1)
        assert rel_error(packed, batched) <= TOLERANCE["float32"]
    packed, batched = _both_paths(monkeypatch, lambda: model.predict(X[2:3]), max_rows=1)
    np.testing.assert_array_equal(packed, batched)


def test_where_the_packed_network_runs(monkeypatch, packed_calls):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(8, 5, 2)).astype(np.float32)
    model = _fit(RNNRegressor, X, X[:, -1, 0], hidden_sizes=(4,))
    assert config.PACKED_INFERENCE_MAX_ROWS == 1
    model.predict(X[:1])
    assert len(packed_calls) == 1  # one sequence
    model.predict(X[:2])
    model.score(X, X[:, -1, 0])
    assert len(packed_calls) == 1  # batches: the batched layers
    bidirectional = _fit(RNNRegressor, X, X[:, -1, 0], hidden_sizes=(4,), bidirectional=True)
    bidirectional.predict(X[:1])
    assert len(packed_calls) == 1  # a reverse direction: the batched layers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(early_stopping=True, validation_fraction=0.25, max_iter=2).fit(X, X[:, -1, 0])
    assert len(packed_calls) == 1  # the validation passes of a fit keep the training path


def test_the_packed_parameters_are_reused_while_unchanged(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8, 5, 2)).astype(np.float32)
    model = _fit(RNNRegressor, X, X[:, -1, 0], hidden_sizes=(4, 3))
    packs = []
    original = stream.pack_network
    monkeypatch.setattr(stream, "pack_network", lambda *args: packs.append(1) or original(*args))
    stream.PACKED_NETWORKS.clear()
    first = model.predict(X[:1])
    for _ in range(3):
        np.testing.assert_array_equal(model.predict(X[:1]), first)
    assert len(packs) == 1
    model.network_.named_parameters()["layers.1.weight_hh_l0"][0, 0] += 0.5  # in place
    assert not np.array_equal(model.predict(X[:1]), first)
    assert len(packs) == 2


def test_the_packed_blocks_and_workspace_are_aligned():
    rng = np.random.default_rng(5)
    layers = [(rng.normal(size=(12, 3)), rng.normal(size=(12, 3)), rng.normal(size=12), rng.normal(size=12)),
              (rng.normal(size=(20, 3)), rng.normal(size=(20, 5)), rng.normal(size=20), rng.normal(size=20))]
    for dtype in (np.float32, np.float64):
        weights, layout = stream.pack_network(2, layers, rng.normal(size=(2, 5)), rng.normal(size=2), dtype)
        assert weights.ctypes.data % 64 == 0
        item = np.dtype(dtype).itemsize
        for column in (stream.W_IH, stream.W_HH, stream.BIAS):
            assert all(layout[k, column] * item % 64 == 0 for k in range(2))
        for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):  # the blocks hold the transposed weights
            n_in, hidden = layout[k, stream.N_IN], layout[k, stream.HIDDEN]
            start = layout[k, stream.W_HH]
            np.testing.assert_array_equal(weights[start:start + hidden * 4 * hidden].reshape(hidden, -1),
                                          w_hh.astype(dtype).T)
            start = layout[k, stream.W_IH]
            np.testing.assert_array_equal(weights[start:start + n_in * 4 * hidden].reshape(n_in, -1),
                                          w_ih.astype(dtype).T)


def _product_kernel(wide):
    """A fresh (uncached) compiled loop over the packed network's product, with or without the
    vector-width request."""
    from numba import njit

    from fastrnn.kernels.cpu.vector_width import prefer_vector_width

    @njit(cache=False, error_model="numpy", fastmath=config.FASTMATH_FLAGS)
    def product(v, w, out):
        if wide:
            prefer_vector_width()
        for j in range(out.shape[0]):
            out[j] = 0
        stream.add_product(v, w, out)

    return product


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 256), (33, 150), (5, 7)])
def test_wide_vectors_are_asked_for_and_keep_the_values(monkeypatch, dtype, shape):
    """The kernels that call prefer_vector_width carry LLVM's prefer-vector-width attribute at the
    configured width (none with 0), and a product compiled with it has the bits of one without."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=shape[0]).astype(dtype)
    w = rng.normal(size=shape).astype(dtype)
    wide, plain = _product_kernel(True), _product_kernel(False)
    out_wide, out_plain = np.empty(shape[1], dtype), np.empty(shape[1], dtype)
    wide(v, w, out_wide)
    plain(v, w, out_plain)
    np.testing.assert_array_equal(out_wide, out_plain)
    assert f'"prefer-vector-width"="{config.PACKED_VECTOR_BITS}"' in wide.inspect_llvm(wide.signatures[0])
    assert "prefer-vector-width" not in plain.inspect_llvm(plain.signatures[0])
    monkeypatch.setattr(config, "PACKED_VECTOR_BITS", 0)
    unset = _product_kernel(True)
    unset(v, w, out_wide)
    assert "prefer-vector-width" not in unset.inspect_llvm(unset.signatures[0])
