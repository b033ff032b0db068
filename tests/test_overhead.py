"""The Python around the kernels: the inference passes' caches and the lean input check.

The caches (:class:`fastrnn.kernels.cpu.recurrent.ForwardOperandCache` of the batched passes and
:data:`fastrnn.kernels.cpu.stream.PACKED_NETWORKS` of a single sequence's) must never serve arrays
made from other weights: after every way the weights of a model can change, its predictions equal,
bit for bit, those of a fresh copy of the model (new arrays, empty caches). The lean path of the input
check (:func:`fastrnn._validation.lean_sequences`) must give what the general path gives, results
and errors alike.
"""

import copy
import gc
import pickle
import threading
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor
from fastrnn._validation import all_finite, lean_sequences
from fastrnn.estimators import _base
from fastrnn.exceptions import ConvergenceWarning
from fastrnn.kernels import cells
from fastrnn.kernels.buffers import LayerWeights
from fastrnn.kernels.cpu import recurrent, stream, threads

CACHE = recurrent.FORWARD_OPERANDS


def _data(n=12, steps=7, features=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, features)).astype(np.float32)
    return X, X[:, -2:, 0].sum(axis=1)


def _fitted(cell="lstm", features=2, seed=0, **params):
    X, y = _data(features=features, seed=seed)
    options = dict(cell=cell, hidden_sizes=(6,), max_iter=2, device="cpu", random_state=seed, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return RNNRegressor(**dict(options, **params)).fit(X, y)


def _fresh_prediction(model, X):
    """The prediction of a fresh copy of ``model`` (new weight arrays, nothing cached)."""
    CACHE.clear()
    stream.PACKED_NETWORKS.clear()
    return copy.deepcopy(model).predict(X)


@pytest.fixture
def counted_preparations(monkeypatch):
    """How many times the forward operands were prepared (``column_slabs`` runs twice each time)."""
    calls = []
    original = recurrent.column_slabs

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(recurrent, "column_slabs", counting)
    return lambda: len(calls) // 2


# ------------------------------------------------------------------------------ the operand cache
def test_an_unchanged_model_reuses_its_operands(counted_preparations):
    model = _fitted()
    X, _ = _data(n=3)
    first = model.predict(X)
    before = counted_preparations()
    for _ in range(3):
        np.testing.assert_array_equal(model.predict(X), first)
    assert counted_preparations() == before  # served from the cache
    model.partial_fit(*_data())  # training passes prepare their own operands, every step
    assert counted_preparations() > before


def _train_step(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(*_data(seed=3))
    return model


def _refit_after_set_params(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.set_params(random_state=7, learning_rate_init=0.01).fit(*_data(seed=4))


def _warm_start(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.set_params(warm_start=True, max_iter=1).fit(*_data(seed=5))


def _load_state_dict(model, X):
    layer = model.network_.layers[0]
    state = {name: value * 0.5 for name, value in layer.state_dict().items()}
    layer.load_state_dict(state)
    return model


def _write_to_a_weight_view(model, X):
    model.network_.named_parameters()["layers.0.weight_hh_l0"][1, 2] += 0.25  # in place, by the user
    return model


def _write_to_a_bias_view(model, X):
    model.network_.named_parameters()["layers.0.bias_hh_l0"][-1] -= 0.5  # the GRU's b_hn for a GRU
    return model


def _sync_from_a_device(model, X):
    network = model.network_  # what sync_to_host does after training on a GPU: the host buffer rewritten
    network.params[...] = network.params * 0.75
    return model


def _flip_the_sign_of_a_zero(model, X):
    weights = model.network_.named_parameters()["layers.0.weight_ih_l0"]
    weights[...] = 0.0
    model.predict(X)  # cached with +0.0
    weights[0, 0] = -0.0  # equal as floats, not as bits: prepared again
    return model


def _unpickle(model, X):
    return pickle.loads(pickle.dumps(model))


def _from_torch(model, X):
    pytest.importorskip("torch")
    state = {name: np.asarray(value) * 1.5 for name, value in model.network_.named_parameters().items()}
    return model.from_torch(state)


def _save_and_load(model, X, path):
    model.save(path / "model.fastrnn")
    return fastrnn.load(path / "model.fastrnn")


WRITERS = [_train_step, _refit_after_set_params, _warm_start, _load_state_dict, _write_to_a_weight_view,
           _write_to_a_bias_view, _sync_from_a_device, _flip_the_sign_of_a_zero, _unpickle, _from_torch,
           _save_and_load]


@pytest.mark.parametrize("writer", WRITERS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("n", [5, 1], ids=["batched", "packed"])  # one sequence: the packed network
def test_predictions_follow_every_change_of_the_weights(tmp_path, writer, cell, n):
    model = _fitted(cell)
    X, _ = _data(n=n, seed=9)
    before = model.predict(X)
    model.predict(X)  # now cached
    changed = writer(model, X, tmp_path) if writer is _save_and_load else writer(model, X)
    after = changed.predict(X)
    np.testing.assert_array_equal(after, _fresh_prediction(changed, X))
    if writer not in (_unpickle, _save_and_load, _flip_the_sign_of_a_zero):
        assert not np.array_equal(after, before)  # the change did change the predictions


def test_a_copy_keeps_its_own_weights_while_the_original_changes():
    model = _fitted()
    X, _ = _data(n=4, seed=2)
    twin = pickle.loads(pickle.dumps(model))
    expected = twin.predict(X)
    _write_to_a_weight_view(model, X)
    model.predict(X)
    np.testing.assert_array_equal(twin.predict(X), expected)
    assert not np.array_equal(model.predict(X), expected)


def test_split_inference_passes_use_the_cache_too(monkeypatch, counted_preparations):
    monkeypatch.setattr(threads, "n_threads", lambda: 2)
    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
    model = _fitted()
    X, _ = _data(n=16, seed=6)
    first = model.predict(X)
    before = counted_preparations()
    np.testing.assert_array_equal(model.predict(X), first)
    assert counted_preparations() == before
    _write_to_a_weight_view(model, X)
    np.testing.assert_array_equal(model.predict(X), _fresh_prediction(model, X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_cached_operands_are_the_prepared_ones(cell, dtype):
    kind = cells.CELL_CODES[cell]
    rng = np.random.default_rng(1)
    gates = cells.N_GATES[kind]
    for n_in, hidden, n_rows in [(3, 5, 1), (16, 64, 32), (200, 300, 16)]:  # the last one in slabs
        units = gates * hidden
        weights = LayerWeights(*(rng.normal(size=shape).astype(dtype) for shape in
                                 [(units, n_in), (units, hidden), (units,), (units,)]))
        expected = recurrent.forward_operands(kind, weights, n_rows)
        for _ in range(2):  # made, then found
            got = recurrent.inference_operands(kind, weights, n_rows)
            assert len(got) == len(expected)
            for a, b in zip(got[:3], expected[:3]):
                assert a.dtype == b.dtype and a.flags.c_contiguous
                np.testing.assert_array_equal(a, b)
            assert got[3] == expected[3]
            assert got[0].ctypes.data % recurrent.OPERAND_ALIGNMENT == got[2].ctypes.data % recurrent.OPERAND_ALIGNMENT == 0


def test_the_operands_are_aligned_copies_or_the_aligned_weights_themselves():
    rng = np.random.default_rng(7)
    buffer = rng.normal(size=64 * 16 + 4).astype(np.float32)
    for offset in range(4):  # weights at each 4-byte offset from numpy's 16-byte alignment
        w = buffer[offset:offset + 64 * 16].reshape(64, 16)  # (G*H, H) of an LSTM with H=16
        for n_rows in (1, 8, 64):
            slabs, _, _ = recurrent.backward_operands(w, n_rows)
            assert slabs.ctypes.data % recurrent.OPERAND_ALIGNMENT == 0
            np.testing.assert_array_equal(slabs.transpose(1, 0, 2).reshape(w.shape), w)
            assert np.shares_memory(slabs, w) == (w.ctypes.data % recurrent.OPERAND_ALIGNMENT == 0)
        for width in (64, 32):  # one slab, two
            transposed = recurrent.column_slabs(w, True, width)
            assert transposed.ctypes.data % recurrent.OPERAND_ALIGNMENT == 0
            np.testing.assert_array_equal(transposed.transpose(1, 0, 2).reshape(16, 64), w.T)
        two = recurrent.column_slabs(w.reshape(16, 64), False, 32)
        assert two.ctypes.data % recurrent.OPERAND_ALIGNMENT == 0
        np.testing.assert_array_equal(two.transpose(1, 0, 2).reshape(16, 64), w.reshape(16, 64))


def test_same_weights_compares_bits():
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=shape).astype(np.float32) for shape in [(8, 3), (8, 2), (8,), (8,)]]
    copies = [a.copy() for a in arrays]
    assert recurrent.same_weights(*arrays, *copies)
    for k in range(4):
        for new in (np.nan, -0.0, 1e-45):
            changed = [a.copy() for a in arrays]
            changed[k].reshape(-1)[-1] = new
            assert not recurrent.same_weights(*changed, *copies)
            assert recurrent.same_weights(*changed, *[a.copy() for a in changed])  # NaN included
    shorter = [a.copy() for a in arrays]
    shorter[2] = shorter[2][:-1].copy()
    assert not recurrent.same_weights(*shorter, *copies)


def test_the_cache_is_bounded_and_lets_go_of_dead_weights():
    CACHE.clear()
    models = [_fitted(seed=seed) for seed in range(CACHE.max_entries + 3)]
    X, _ = _data(n=2)
    for model in models:
        model.predict(X)
    assert len(CACHE) == CACHE.max_entries and CACHE.nbytes <= CACHE.max_bytes
    expected = models[0].predict(X)  # evicted long ago: prepared again
    np.testing.assert_array_equal(expected, _fresh_prediction(models[0], X))
    del models, model
    gc.collect()
    assert len(CACHE) == 0 and CACHE.nbytes == 0


def test_a_small_cache_keeps_the_most_recent_entries_within_its_bytes():
    kind = cells.CELL_CODES["lstm"]
    rng = np.random.default_rng(3)

    def weights(hidden):
        return LayerWeights(*(rng.normal(size=shape) for shape in
                              [(4 * hidden, 2), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)]))

    small = [weights(4) for _ in range(3)]
    entry_bytes = 2 * sum(a.nbytes for a in small[0]) - small[0].b_hh.nbytes  # copies, slabs, one bias
    cache = recurrent.ForwardOperandCache(max_entries=2, max_bytes=3 * entry_bytes)
    for w in small:
        cache.get(kind, w, w.w_hh.shape[0], w.w_hh.shape[0])
    assert len(cache) == 2 and cache.nbytes == 2 * entry_bytes
    large = weights(16)  # more than the bytes allowed: prepared, not kept
    cache.get(kind, large, large.w_hh.shape[0], large.w_hh.shape[0])
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes


@pytest.mark.parametrize("n", [3, 1], ids=["batched", "packed"])
def test_predictions_from_several_threads_at_once(n):
    models = [_fitted(cell, seed=k) for k, cell in enumerate(["lstm", "gru", "lstm"])]
    X, _ = _data(n=n, seed=8)
    CACHE.clear()
    expected = [_fresh_prediction(model, X) for model in models]
    errors = []

    def work(k):
        try:
            for i in range(30):
                model = models[(k + i) % len(models)]
                np.testing.assert_array_equal(model.predict(X), expected[(k + i) % len(models)])
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    runners = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert not errors, errors[0]


def test_the_plans_are_plain_python():
    for name in ("step_plan", "product_plan", "even_blocks", "slab_width", "column_slabs", "projection_bias"):
        assert not hasattr(getattr(recurrent, name), "py_func"), name  # not a Numba dispatcher
    assert recurrent.step_plan(32, 16, 64, 256) == (32, 256, 256)


# ----------------------------------------------------------------------------- the lean input path
@pytest.fixture
def general_path(monkeypatch):
    """Run ``function()`` with the lean path switched off: the general checks alone."""
    def run(function):
        with monkeypatch.context() as patch:
            patch.setattr(_base, "lean_sequences", lambda *args, **kwargs: None)
            return function()
    return run


def _outcome(function):
    try:
        return "result", function()
    except Exception as exc:  # noqa: BLE001 - compared
        return "error", (type(exc), str(exc))


def _same_outcome(lean, general):
    assert lean[0] == general[0], (lean, general)
    if lean[0] == "error":
        assert lean[1] == general[1]
    else:
        result, expected = lean[1], general[1]
        assert type(result) is type(expected)
        if isinstance(result, list):
            for a, b in zip(result, expected):
                np.testing.assert_array_equal(a, b)
        else:
            assert result.dtype == expected.dtype and result.shape == expected.shape
            np.testing.assert_array_equal(result, expected)


def _inputs(n_features):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, 6, n_features)).astype(np.float32)
    nan, inf = X.copy(), X.copy()
    nan[2, 3, 0], inf[4, 5, -1] = np.nan, -np.inf
    cases = {
        "C float32": X, "F float32": np.asfortranarray(X), "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "float64": X.astype(np.float64), "int": (X * 10).astype(np.int64), "list": X.tolist(),
        "list of arrays": list(X), "ragged list": [X[0], X[1, :4], X[2, :2]], "read-only": _read_only(X),
        "NaN": nan, "inf": inf, "NaN float64": nan.astype(np.float64), "F NaN": np.asfortranarray(nan),
        "more features": np.concatenate([X, X[..., :1]], axis=2), "no samples": X[:0], "no steps": X[:, :0],
        "1-D": X[0, :, 0], "4-D": X[None], "strings": np.full((2, 3, n_features), "a"),
        "2-D": X[:, :, 0], "2-D list": X[:, :, 0].tolist(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        cases["matrix"] = np.asmatrix(X[:, :, 0])
    return cases


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


@pytest.mark.parametrize("n_features", [1, 2])
@pytest.mark.parametrize("case", list(_inputs(2)))
def test_the_lean_path_gives_the_general_paths_results_and_errors(general_path, n_features, case):
    model = _fitted(features=n_features)
    X = _inputs(n_features)[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix
        lean = _outcome(lambda: model.predict(X))
        general = general_path(lambda: _outcome(lambda: model.predict(X)))
    _same_outcome(lean, general)


def test_the_lean_path_of_a_classifier(general_path):
    X, y = _data(n=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RNNClassifier(hidden_sizes=(5,), max_iter=2, device="cpu", random_state=0).fit(X, y > 0)
    for method in ("predict", "predict_proba", "decision_function"):
        for data in (X, np.asfortranarray(X), X.astype(np.float64)):
            lean = _outcome(lambda: getattr(model, method)(data))
            _same_outcome(lean, general_path(lambda: _outcome(lambda: getattr(model, method)(data))))


def test_lean_sequences_takes_only_what_the_general_path_returns_unchanged():
    X = np.zeros((2, 3, 4), np.float32)
    assert lean_sequences(X, 4, np.float32) is X
    assert lean_sequences(np.asfortranarray(X), 4, np.float32) is not None
    for other in (X.astype(np.float64), X[..., :3], X[:0], X[:, :0], X.tolist(), X[0], X[None]):
        assert lean_sequences(other, 4, np.float32) is None
    assert lean_sequences(X.view(np.recarray), 4, np.float32) is None  # subclasses: the general path
    bad = X.copy()
    bad[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        lean_sequences(bad, 4, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
def test_all_finite_agrees_with_numpy(dtype):
    rng = np.random.default_rng(5)
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else None
    specials = [] if info is None else [np.nan, np.inf, -np.inf, -0.0, info.max, -info.max, info.tiny,
                                        info.tiny / 4, -np.nan]
    for size in (0, 1, 7, 100, 1031):
        base = (rng.normal(size=size) * 100).astype(dtype)
        arrays = [base, base.reshape(-1, 1), base[::2], _read_only(base)]
        if size:
            for value in specials:
                for position in {0, size // 2, size - 1}:
                    changed = base.copy()
                    with np.errstate(over="ignore"):
                        changed[position] = value
                    arrays += [changed, changed[::-1], np.asfortranarray(np.stack([changed, base], axis=1))]
        for array in arrays:
            assert all_finite(array) == bool(np.isfinite(array).all()), array
    assert all_finite(np.float32(1.0)) and not all_finite(np.array(np.nan))


# ------------------------------------------------------------------------------ batches of samples
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_prediction_in_chunks_of_samples(monkeypatch, output):
    X, y = _data(n=10)
    targets = y if output == "last" else X[:, :, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RNNRegressor(hidden_sizes=(5,), output=output, max_iter=1, device="cpu", random_state=0,
                             dtype="float64").fit(X, targets)
    ragged = [X[k, :7 - k % 3] for k in range(10)]
    states = [(np.full((10, 5), 0.1), np.full((10, 5), -0.2))]
    whole = [model.predict(X), model.predict(ragged), model.predict(X, initial_state=states)]
    monkeypatch.setattr(_base, "_PREDICT_CHUNK", 4)  # 4 + 4 + 2 samples
    for got, expected in zip([model.predict(X), model.predict(ragged), model.predict(X, initial_state=states)], whole):
        for a, b in (zip(got, expected) if isinstance(got, list) else [(got, expected)]):
            assert a.dtype == np.float64 and a.flags.c_contiguous == b.flags.c_contiguous
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_gather_batch_copies_the_rows_of_the_index():
    backend = fastrnn.kernels.dispatch.CPU_BACKEND
    rng = np.random.default_rng(6)
    for x in (rng.normal(size=(5, 9, 3)).astype(np.float32), np.asfortranarray(rng.normal(size=(5, 9, 3))),
              rng.normal(size=(5, 18, 3))[:, ::2]):
        for index in (np.array([3, 1, 1, 8]), np.arange(9), np.array([], dtype=np.int64),
                      np.array([2], dtype=np.int32), np.array([-1, 0]), [4, 2], np.arange(9) % 2 == 0):
            got = backend.gather_batch(x, index)
            assert got.flags.c_contiguous and got.dtype == x.dtype and not np.shares_memory(got, x)
            np.testing.assert_array_equal(got, x[:, index])
