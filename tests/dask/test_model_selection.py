"""Model selection on a Dask cluster: scikit-learn's searches under joblib's Dask backend give the
scores they give in one process; a task on a worker runs fastrnn in one thread, with BLAS at one
thread; dask-ml 2025.1's adaptive searches run on fastrnn estimators, with the workarounds of
:func:`_dask_ml_search_context` (dask >= 2025.3) and, for 3-D X, :func:`_sequence_split`."""

import os
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

from scipy.stats import loguniform  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, cross_val_score  # noqa: E402

from fastrnn import RNNClassifier, RNNRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::fastrnn.exceptions.ConvergenceWarning")

N, T, D = 90, 6, 2
GRID = {"hidden_sizes": [(4,), (8,)], "learning_rate_init": [0.01, 0.05]}
RANDOM = {"cell": ["lstm", "gru"], "learning_rate_init": loguniform(1e-3, 1e-1)}


def _data(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, T, D))
    if kind == "regressor":
        return X, X[:, -3:, 0].sum(axis=1) - 0.5 * X[:, 0, 1]
    return X, (X[:, :, 0].mean(axis=1) > 0).astype(np.int64)


def _estimator(kind):
    cls = RNNRegressor if kind == "regressor" else RNNClassifier
    return cls(hidden_sizes=(4,), max_iter=4, batch_size=16, dtype="float64", random_state=0)


# continuous scores, so that a difference in any fit shows
SCORING = {"regressor": "neg_mean_squared_error", "classifier": "neg_log_loss"}
CV = KFold(3, shuffle=True, random_state=0)


def _search(kind, search, n_jobs):
    if search == "grid":
        return GridSearchCV(_estimator(kind), GRID, scoring=SCORING[kind], cv=CV, n_jobs=n_jobs)
    return RandomizedSearchCV(_estimator(kind), RANDOM, n_iter=4, scoring=SCORING[kind], cv=CV,
                              random_state=0, n_jobs=n_jobs)


def _assert_same_scores(got, expected):
    # float64 fits are deterministic given random_state, whichever process runs them
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize("search", ["grid", "random"])
def test_search_under_dask_backend_scores_as_in_one_process(client, kind, search):
    X, y = _data(kind)
    expected = _search(kind, search, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask", client=client):
        got = _search(kind, search, n_jobs=None).fit(X, y)
    assert got.cv_results_["params"] == expected.cv_results_["params"]
    for key in [f"split{k}_test_score" for k in range(3)] + ["mean_test_score"]:
        _assert_same_scores(got.cv_results_[key], expected.cv_results_[key])
    assert got.best_params_ == expected.best_params_
    np.testing.assert_allclose(got.predict(X[:5]), expected.predict(X[:5]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_cross_val_score_under_dask_backend_as_in_one_process(client, kind):
    X, y = _data(kind)
    expected = cross_val_score(_estimator(kind), X, y, scoring=SCORING[kind], cv=CV, n_jobs=1)
    with joblib.parallel_backend("dask", client=client):
        got = cross_val_score(_estimator(kind), X, y, scoring=SCORING[kind], cv=CV)
    _assert_same_scores(got, expected)


def _threads_in_task():
    """What fastrnn and BLAS see in the thread running this call. cloudpickle sends it by reference
    (module and name): the spawned workers inherit sys.path, with this module's folder, from the
    process that starts them, and import this module to load it."""
    import numba

    from fastrnn.kernels.cpu import blas_threads, threads

    control = blas_threads.blas_threads()
    with threads.limited_threads(2):
        limited = threads.n_threads()
    return {"n_threads": threads.n_threads(), "in_dask_task": threads.in_dask_task(), "limited": limited,
            "numba_threads": int(numba.config.NUMBA_NUM_THREADS),
            "blas": None if control is None else control.get(),
            "environ": {name: os.environ.get(name)
                        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}


def _check_one_thread(seen):
    assert seen["in_dask_task"]
    assert seen["n_threads"] == 1
    assert seen["limited"] == min(2, seen["numba_threads"])
    # distributed's nanny starts the worker processes with these (distributed.nanny.pre-spawn-environ)
    assert seen["environ"] == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert seen["blas"] in (None, 1)  # None: scipy's OpenBLAS not found here


def test_a_task_runs_fastrnn_in_one_thread_and_blas_in_one(client):
    futures = [client.submit(_threads_in_task, pure=False, workers=[address])
               for address in client.scheduler_info()["workers"]]
    for seen in client.gather(futures):
        _check_one_thread(seen)


def test_a_joblib_task_runs_fastrnn_in_one_thread(client):
    with joblib.parallel_backend("dask", client=client):
        seen = joblib.Parallel()(joblib.delayed(_threads_in_task)() for _ in range(4))
    for each in seen:
        _check_one_thread(each)


# ---------------------------------------------------------------------------------------- dask-ml
def _dask_ml_search_context(client):
    """dask-ml 2025.1's adaptive searches call ``dask.persist`` inside a coroutine on the client's
    event loop; from dask 2025.3 that raises "Attempting to use an asynchronous Client in a
    synchronous context of `dask.compute`" (dask/dask-ml#1016). A scheduler given as a callable is
    used as it is, and ``dask.persist`` then persists through the callable's client without
    blocking, as it did before."""
    return dask.config.set(scheduler=client.get)


def _sequence_split(search_cls):
    """``search_cls`` splitting 3-D X (n_samples, n_timesteps, n_features): dask-ml's
    ``train_test_split`` of dask arrays knows 1-D and 2-D arrays only (it declares the blocks of a
    3-D part 1-D, so computing them fails with "could not broadcast input array from shape (8,6,2)
    into shape (8,)"). The split runs on X flattened to 2-D, the parts reshaped back. Hyperband
    runs its brackets as SuccessiveHalvingSearchCV searches of its own making: they split too."""

    class SequenceSearch(search_cls):
        def _get_train_test_split(self, X, y, **kwargs):
            steps = X.shape[1:]
            if len(steps) < 2:
                return super()._get_train_test_split(X, y, **kwargs)
            flat = X.reshape((X.shape[0], int(np.prod(steps))))
            X_train, X_test, y_train, y_test = super()._get_train_test_split(flat, y, **kwargs)
            return X_train.reshape((-1,) + steps), X_test.reshape((-1,) + steps), y_train, y_test

        def _get_SHAs(self, brackets):  # HyperbandSearchCV only
            searches = super()._get_SHAs(brackets)
            for search in searches.values():
                search.__class__ = _sequence_split(type(search))
            return searches

    SequenceSearch.__name__ = SequenceSearch.__qualname__ = search_cls.__name__
    return SequenceSearch


def _adaptive_search(search, sequence_split):
    model_selection = pytest.importorskip("dask_ml.model_selection")
    params = {"hidden_sizes": [(4,), (8,)], "learning_rate_init": [0.01, 0.05, 0.1]}
    estimator = RNNClassifier(hidden_sizes=(4,), max_iter=1, batch_size=16, dtype="float64", random_state=0)
    if search == "hyperband":
        cls, kwargs = model_selection.HyperbandSearchCV, {"max_iter": 3}
    else:
        cls, kwargs = model_selection.IncrementalSearchCV, {"n_initial_parameters": 4, "max_iter": 3,
                                                            "decay_rate": None}
    return (_sequence_split(cls) if sequence_split else cls)(estimator, params, random_state=0, **kwargs)


@pytest.mark.parametrize("search", ["hyperband", "incremental"])
@pytest.mark.parametrize("n_features", [1, D])
def test_dask_ml_adaptive_searches(client, search, n_features):
    X, y = _data("classifier")
    if n_features == 1:  # univariate series as 2-D X (n_samples, n_timesteps): dask-ml splits it as it is
        X = X[:, :, 0]
    Xd, yd = da.from_array(X, chunks=(30,) + X.shape[1:]), da.from_array(y, chunks=30)
    model = _adaptive_search(search, sequence_split=X.ndim == 3)
    with client.as_current(), _dask_ml_search_context(client), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(Xd, yd, classes=[0, 1])
    results = model.cv_results_
    assert len(results["params"]) >= 2
    assert np.all(np.isfinite(results["test_score"]))
    assert np.all((1 <= results["partial_fit_calls"]) & (results["partial_fit_calls"] <= 3))
    assert model.best_params_ in list(results["params"])
    assert isinstance(model.best_estimator_, RNNClassifier)
    assert model.best_estimator_.n_features_in_ == n_features
    # not model.predict: dask-ml's predict of a search turns X into a dask array and maps over its
    # blocks as if 2-D (drop_axis=1, its output's meta guessed from X of shape (1, n_features))
    assert model.best_estimator_.predict(X[:7]).shape == (7,)
