"""fastrnn.dask.predict: lazy prediction over Dask arrays and bags, equal to the in-memory call, with
the model sent once."""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
db = pytest.importorskip("dask.bag")
dask = pytest.importorskip("dask")

from fastrnn import CharRNN, RNNClassifier, RNNRegressor, Seq2Seq  # noqa: E402
from fastrnn.dask import predict  # noqa: E402
from fastrnn.exceptions import NotFittedError  # noqa: E402

N, T, D, CHUNK = 300, 5, 2, 3  # 100 chunks of 3 samples


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 epochs: a ConvergenceWarning is expected
        return model.fit(X, y)


def _small(cls, **params):
    return cls(hidden_sizes=(4,), max_iter=2, dtype="float64", random_state=0, **params)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(N, T, D))  # (n_samples, n_timesteps, n_features)


@pytest.fixture(scope="module")
def models(X):
    steps = (X[:, :, 0] > 0).astype(int) + (X[:, :, 1] > 0)  # (N, T) labels 0, 1, 2
    return {
        "reg_last": _fit(_small(RNNRegressor), X, X[:, :, 0].sum(axis=1)),
        "reg_sequence": _fit(_small(RNNRegressor, output="sequence"), X, np.cumsum(X, axis=1)),
        "clf_binary": _fit(_small(RNNClassifier, cell="gru"), X, np.where(X[:, -1, 0] > 0, "up", "down")),
        "clf_sequence": _fit(_small(RNNClassifier, output="sequence"), X, steps),
    }


@pytest.fixture(scope="module")
def sequences():
    """40 sequences of 1 to 7 steps, D features each."""
    rng = np.random.default_rng(1)
    return [rng.normal(size=(int(n), D)) for n in rng.integers(1, 8, size=40)]


def _dependencies(result):
    """Per output key of ``result``, the keys its task depends on, and the whole graph."""
    graph = dict(result.__dask_graph__())
    keys = [key for key in graph if isinstance(key, tuple) and key[0] == result.name]
    return {key: set(graph[key].dependencies) for key in keys}, graph


def _model_keys(result, X_keys):
    """The keys the blocks of ``result`` depend on other than X's blocks."""
    dependencies, graph = _dependencies(result)
    return {key for deps in dependencies.values() for key in deps if key not in X_keys}, dependencies, graph


def _check_equal(result, expected):
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name, method", [
    ("reg_last", "predict"),
    ("reg_sequence", "predict"),
    ("clf_binary", "predict"),
    ("clf_binary", "predict_proba"),
    ("clf_binary", "decision_function"),
    ("clf_sequence", "predict"),
    ("clf_sequence", "predict_proba"),
    ("clf_sequence", "predict_log_proba"),
    ("clf_sequence", "decision_function"),
])
def test_array_matches_in_memory(client, X, models, name, method):
    model = models[name]
    dX = da.from_array(X, chunks=(CHUNK, T, D))
    result = predict(model, dX, method)
    expected = getattr(model, method)(X)
    assert isinstance(result, da.Array)
    assert result.chunks[0] == dX.chunks[0] and len(result.chunks[0]) == N // CHUNK
    assert result.shape == expected.shape and result.dtype == expected.dtype
    _check_equal(result.compute(), expected)


def test_two_dimensional_X_of_univariate_series(client, X):
    X2 = X[:, :, 0]  # (N, T)
    model = _fit(_small(RNNClassifier, output="sequence"), X2, (X2 > 0).astype(int))
    result = predict(model, da.from_array(X2, chunks=(30, T)), "predict_proba")  # (N, T, 2): one axis more than X
    assert result.chunks == ((30,) * 10, (T,), (2,))
    _check_equal(result.compute(), model.predict_proba(X2))


def test_lazy_until_computed(client, models):
    def explode():
        raise RuntimeError("X was computed")

    blocks = [da.from_delayed(dask.delayed(explode)(), shape=(CHUNK, T, D), dtype=np.float64) for _ in range(4)]
    dX = da.concatenate(blocks)  # any computation of X raises
    result = predict(models["reg_last"], dX)  # distributed: the model is scattered, X is not touched
    assert isinstance(result, da.Array) and result.shape == (4 * CHUNK,)
    local = predict(models["reg_last"], dX, client=False)
    with pytest.raises(RuntimeError, match="X was computed"):
        local.compute(scheduler="sync")


def test_model_scattered_once_to_every_worker(client, X, models):
    # Dask's active memory manager drops replicas nothing waits for, every 2 s: paused, so that the
    # broadcast copies are still there when counted
    client.amm.stop()
    try:
        dX = da.from_array(X, chunks=(CHUNK, T, D))
        result = predict(models["clf_binary"], dX, "predict_proba", client=client)
        model_keys, dependencies, graph = _model_keys(result, set(dict(dX.__dask_graph__())))
        assert len(dependencies) == N // CHUNK
        assert len(model_keys) == 1  # one model key, shared by every block
        (key,) = model_keys
        assert all(key in deps for deps in dependencies.values())
        assert key not in graph  # not in the graph: the scattered future
        result.compute()
        assert all(key in keys for keys in client.has_what().values())  # broadcast: a copy on each worker
    finally:
        client.amm.start()


@pytest.mark.parametrize("how", ["client=False", "threads"])
def test_without_distributed_client(client, X, models, how):
    model = models["reg_sequence"]
    dX = da.from_array(X, chunks=(CHUNK, T, D))
    with dask.config.set(scheduler="threads"):  # overrides the session's default client
        result = predict(model, dX, client=False) if how == "client=False" else predict(model, dX)
        model_keys, dependencies, graph = _model_keys(result, set(dict(dX.__dask_graph__())))
        assert len(model_keys) == 1  # one key of the graph holds the model
        (key,) = model_keys
        assert all(key in deps for deps in dependencies.values())
        assert key in graph
        _check_equal(result.compute(), model.predict(X))


def test_X_chunked_along_time_and_features(client, X, models):
    model = models["clf_sequence"]
    dX = da.from_array(X, chunks=(50, 2, 1))  # 6 x 3 x 2 chunks
    result = predict(model, dX, "decision_function")
    assert result.chunks == ((50,) * 6, (T,), (3,))
    _check_equal(result.compute(), model.decision_function(X))
    assert dX.chunks == ((50,) * 6, (2, 2, 1), (1, 1))  # X itself is left as it was


@pytest.mark.parametrize("name, method", [("reg_last", "predict"), ("reg_sequence", "predict"),
                                          ("clf_sequence", "predict_proba"), ("clf_sequence", "predict")])
def test_sequences_of_different_lengths(client, sequences, models, name, method):
    model = models[name]
    expected = getattr(model, method)(sequences)
    from_list = predict(model, sequences, method, partition_size=7)
    from_bag = predict(model, db.from_sequence(sequences, npartitions=3), method)
    assert isinstance(from_list, db.Bag) and from_list.npartitions == 6
    for result in (from_list, from_bag):
        computed = result.compute()
        assert len(computed) == len(expected)
        for got, want in zip(computed, expected):
            _check_equal(np.asarray(got), np.asarray(want))


def test_bag_of_univariate_sequences_and_empty_partitions(client, X):
    model = _fit(_small(RNNRegressor), X[:, :, 0], X[:, -1, 0])
    rng = np.random.default_rng(2)
    sequences = [rng.normal(size=int(n)) for n in rng.integers(1, 8, size=10)]  # each (n_steps,)
    bag = db.from_sequence(sequences, npartitions=4).filter(lambda s: s.shape[0] > 0)
    computed = predict(model, bag, client=False).compute(scheduler="sync")
    _check_equal(np.asarray(computed), model.predict(sequences))
    empty = db.from_sequence(sequences, npartitions=2).filter(lambda s: False)
    assert predict(model, empty, client=False).compute(scheduler="sync") == []


def test_seq2seq_over_a_bag(client):
    X = [np.array([1, 2, 3]), np.array([2, 3]), np.array([3, 1, 2, 1])] * 4
    model = _fit(Seq2Seq(hidden_sizes=(4,), max_iter=1, dtype="float64", random_state=0), X, [x[::-1] for x in X])
    computed = predict(model, X, partition_size=5).compute()
    for got, want in zip(computed, model.predict(X), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="bag"):
        predict(model, da.zeros((4, 3, 1), chunks=2))


def test_errors(X, models):
    dX = da.from_array(X, chunks=(CHUNK, T, D))
    with pytest.raises(NotFittedError):
        predict(RNNRegressor(), dX)
    with pytest.raises(ValueError, match=r"method='predict_proba'.*\['predict'\]"):
        predict(models["reg_last"], dX, "predict_proba")
    with pytest.raises(ValueError, match="method='transform'"):
        predict(models["clf_binary"], dX, "transform")
    with pytest.raises(ValueError, match="3 features.*n_features_in_=2"):
        predict(models["reg_last"], da.zeros((6, T, 3), chunks=3))
    with pytest.raises(ValueError, match="1 features.*n_features_in_=2"):
        predict(models["reg_last"], da.zeros((6, T), chunks=3))
    with pytest.raises(ValueError, match="3-D"):
        predict(models["reg_last"], da.zeros(6, chunks=3))
    with pytest.raises(ValueError, match=r"X\[1\] has 3 features"):
        predict(models["reg_last"], [np.zeros((4, D)), np.zeros((4, 3))])
    with pytest.raises(ValueError, match="empty"):
        predict(models["reg_last"], [])
    with pytest.raises(ValueError, match="partition_size"):
        predict(models["reg_last"], dX, partition_size=10)
    with pytest.raises(ValueError, match="partition_size"):
        predict(models["reg_last"], [X[0]], partition_size=0)
    with pytest.raises(TypeError, match="dask.array.Array, a dask.bag.Bag or a list"):
        predict(models["reg_last"], X)
    with pytest.raises(TypeError, match="CharRNN"):
        predict(CharRNN(), ["some text"])
