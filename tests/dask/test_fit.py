"""Data-parallel training on a two-worker cluster equals training in one process (float64, same
mini-batches), behaves like ``fit`` (early stopping, truncated BPTT, divergence, warm_start), and a
worker killed mid-fit raises instead of returning weights."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import distributed
import fastrnn.dask
from conftest import start_cluster
from fastrnn import CharRNN, RNNClassifier, RNNRegressor
from fastrnn.estimators._training import GradientStep
from fastrnn.exceptions import TrainingDivergedError, WorkerLostError

da = pytest.importorskip("dask.array")

SMALL = dict(hidden_sizes=(6,), max_iter=4, batch_size=16, random_state=0, dtype="float64")


def _data(n=90, T=8, D=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, D))
    return X, X[:, -3:, 0].sum(axis=1)


def _assert_same_fit(serial, parallel):
    np.testing.assert_allclose(parallel.network_.params, serial.network_.params, rtol=0, atol=1e-10)
    np.testing.assert_allclose(parallel.loss_curve_, serial.loss_curve_, rtol=1e-10)
    assert parallel.n_iter_ == serial.n_iter_ and parallel.t_ == serial.t_


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("params", [
    dict(cell="lstm"),
    dict(cell="gru", early_stopping=True, validation_fraction=0.2),
    dict(cell="rnn", hidden_sizes=(5, 4), alpha=0.01, clip_grad_norm=0.05, solver="sgd"),
], ids=["lstm", "gru-early-stopping", "rnn-two-layers-clipped-sgd"])
def test_equals_serial_fit_regressor(client, params):
    X, y = _data()
    serial = RNNRegressor(**{**SMALL, **params}).fit(X, y)
    # chunks that do not match the workers' ranges: the shards cut across them
    parallel = fastrnn.dask.fit(RNNRegressor(**{**SMALL, **params}), da.from_array(X, chunks=(13, -1, -1)),
                                da.from_array(y, chunks=13), client=client)
    _assert_same_fit(serial, parallel)
    assert parallel.clipped_fraction_curve_ == serial.clipped_fraction_curve_
    np.testing.assert_allclose(parallel.grad_norm_curve_, serial.grad_norm_curve_, rtol=1e-10)
    if params.get("early_stopping"):
        np.testing.assert_allclose(parallel.validation_scores_, serial.validation_scores_, rtol=1e-10)
        np.testing.assert_allclose(parallel.validation_loss_curve_, serial.validation_loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(parallel.predict(X), serial.predict(X), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_equals_serial_fit_truncated_bptt_per_step_outputs(client):
    """One update per chunk of time: every worker carries its share's state from chunk to chunk."""
    X, _ = _data()
    y = np.cumsum(X[:, :, 0], axis=1)  # (n, T) per-step targets
    params = dict(SMALL, output="sequence", bptt_steps=3)
    serial = RNNRegressor(**params).fit(X, y)
    parallel = fastrnn.dask.fit(RNNRegressor(**params), da.from_array(X, chunks=(30, 4, 1)), y, client=client)
    _assert_same_fit(serial, parallel)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_equals_serial_fit_classifier_with_early_stopping(client):
    X, y = _data()
    labels = np.array(["low", "mid", "high"])[np.digitize(y, [-0.5, 0.5])]
    params = dict(SMALL, early_stopping=True)
    serial = RNNClassifier(**params).fit(X, labels)
    parallel = fastrnn.dask.fit(RNNClassifier(**params), da.from_array(X, chunks=(20, -1, -1)), labels,
                                client=client)
    _assert_same_fit(serial, parallel)
    assert list(parallel.classes_) == list(serial.classes_)
    np.testing.assert_allclose(parallel.validation_scores_, serial.validation_scores_, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_list_of_shards_numpy_and_futures(client):
    """Shards given as numpy arrays or as futures already on the workers keep the list's order."""
    X, y = _data(n=50)
    X2 = X[:, :, 0]  # univariate (n, T)
    serial = RNNRegressor(**SMALL).fit(X2, y)
    cuts = [0, 17, 30, 50]
    shards = [X2[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    targets = [y[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    _assert_same_fit(serial, fastrnn.dask.fit(RNNRegressor(**SMALL), shards, targets, client=client))
    futures = [client.scatter(part) for part in shards]
    _assert_same_fit(serial, fastrnn.dask.fit(RNNRegressor(**SMALL), futures, targets, client=client))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_float32_and_workers_without_a_share_of_some_batches(client):
    """float32 weights agree to float32 rounding; with shuffle=False and uneven shards most batches
    fall on one worker only, which the other then skips."""
    X, y = _data(n=60)
    params = dict(SMALL, dtype="float32", shuffle=False, batch_size=8)
    serial = RNNRegressor(**params).fit(X, y)
    shards, targets = [X[:50], X[50:55], X[55:]], [y[:50], y[50:55], y[55:]]
    parallel = fastrnn.dask.fit(RNNRegressor(**params), shards, targets, client=client)
    assert parallel.network_.params.dtype == np.float32
    np.testing.assert_allclose(parallel.network_.params, serial.network_.params, atol=1e-5)
    np.testing.assert_allclose(parallel.loss_curve_, serial.loss_curve_, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_client_that_is_not_the_default_one(client):
    """Actors and computations go through the client given, not the default client."""
    X, y = _data(n=40)
    serial = RNNRegressor(**SMALL).fit(X, y)
    other = distributed.Client(client.cluster, set_as_default=False)
    try:
        parallel = fastrnn.dask.fit(RNNRegressor(**SMALL), da.from_array(X, chunks=(10, -1, -1)),
                                    da.from_array(y, chunks=10), client=other)
    finally:
        other.close()
    _assert_same_fit(serial, parallel)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_warm_start_continues_like_serial(client):
    X, y = _data(n=40)
    params = dict(SMALL, max_iter=2, warm_start=True)
    serial = RNNRegressor(**params).fit(X, y).fit(X, y)
    parallel = RNNRegressor(**params)
    for _ in range(2):
        fastrnn.dask.fit(parallel, da.from_array(X, chunks=(10, -1, -1)), y, client=client)
    _assert_same_fit(serial, parallel)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_stops_with_the_last_good_weights_as_in_fit(client):
    X, y = _data(n=40)
    params = dict(SMALL, clip_grad_norm=None, learning_rate_init=1e3, solver="sgd", max_iter=50)
    with pytest.raises(TrainingDivergedError) as serial_error:
        serial = RNNRegressor(**params)
        serial.fit(X, y)
    parallel = RNNRegressor(**params)
    with pytest.raises(TrainingDivergedError) as parallel_error:
        fastrnn.dask.fit(parallel, da.from_array(X, chunks=(10, -1, -1)), y, client=client)
    assert str(parallel_error.value) == str(serial_error.value)
    assert len(serial.loss_curve_) >= 1  # it diverged after some updates, not at the first loss
    # the same last good weights, to the rounding of sums in another order (amplified by the blow-up)
    np.testing.assert_allclose(parallel.network_.params, serial.network_.params, rtol=1e-9)
    assert np.all(np.isfinite(parallel.network_.params))


def test_clear_errors(client):
    X, y = _data(n=20)
    with pytest.raises(TypeError, match="RNNRegressor and RNNClassifier"):
        fastrnn.dask.fit(CharRNN(), da.from_array(X), y, client=client)
    with pytest.raises(ValueError, match="one target"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), da.from_array(X, chunks=(5, -1, -1)), y[:-1], client=client)
    with pytest.raises(ValueError, match="list of as many"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), [X[:10], X[10:]], y, client=client)
    with pytest.raises(TypeError, match="dask.array"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), X, y, client=client)
    with pytest.raises(ValueError, match="3-D"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), da.zeros((4, 2, 2, 2)), np.zeros(4), client=client)
    bad = X.copy()
    bad[3, 2, 1] = np.nan
    model = RNNRegressor(**SMALL)
    with pytest.raises(ValueError, match="NaN"):  # each worker checks its shard as fit checks X
        fastrnn.dask.fit(model, da.from_array(bad, chunks=(5, -1, -1)), y, client=client)
    assert not model.__sklearn_is_fitted__() and not hasattr(model, "n_features_in_")  # left as it was
    with pytest.raises(ValueError, match="one shape"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), [X[:10], X[10:, :5]], [y[:10], y[10:]], client=client)
    with pytest.raises(TypeError, match="client"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), da.from_array(X), y, client="tcp://localhost:8786")
    with pytest.raises(ValueError, match="poll_interval"):
        fastrnn.dask.fit(RNNRegressor(**SMALL), da.from_array(X), y, client=client, poll_interval=0)


def _record_updates(monkeypatch):
    """A list that receives a copy of the weights after every optimizer update (made in this process,
    by the client in a data-parallel fit)."""
    snapshots = []
    original = GradientStep.__call__

    def step(self, loss, n, backward):
        result = original(self, loss, n, backward)
        snapshots.append(self.estimator.network_.params.copy())
        return result

    monkeypatch.setattr(GradientStep, "__call__", step)
    return snapshots


@pytest.mark.parametrize("victim_share", ["every-batch", "last-batches"])
def test_a_killed_worker_raises_and_never_returns_silently(victim_share, monkeypatch):
    """SIGKILL one worker's process in the middle of a fit: WorkerLostError, and the completed
    epochs are exactly those of the serial fit. "last-batches": the victim holds only the last
    sequences of an unshuffled epoch, so the scheduler has removed it before the client calls it."""
    X, y = _data(n=200)
    params = dict(SMALL, batch_size=4, max_iter=30, tol=0, n_iter_no_change=1000,
                  shuffle=victim_share == "every-batch")
    serial_steps = _record_updates(monkeypatch)
    serial = RNNRegressor(**params).fit(X, y)
    parallel_steps = _record_updates(monkeypatch)
    cluster, client = start_cluster()
    try:
        pids = client.run(os.getpid)
        workers = sorted(pids)
        victim = pids[workers[1]]
        model = RNNRegressor(**params)
        if victim_share == "every-batch":
            X_fit, y_fit = da.from_array(X, chunks=(50, -1, -1)), y
        else:  # the victim's shard: the last 8 sequences, in the last 2 batches of each epoch
            X_fit = [client.scatter(X[:192], workers=[workers[0]]), client.scatter(X[192:], workers=[workers[1]])]
            y_fit = [y[:192], y[192:]]

        def kill_after_first_epoch():
            deadline = time.monotonic() + 120
            while getattr(model, "n_iter_", 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_after_first_epoch)
        killer.start()
        with pytest.raises(WorkerLostError, match="was lost during epoch"):
            fastrnn.dask.fit(model, X_fit, y_fit, client=client, poll_interval=0.2)
        killer.join()
    finally:
        client.close()
        cluster.close()
    completed = model.n_iter_
    assert 1 <= completed < params["max_iter"]
    np.testing.assert_allclose(model.loss_curve_, serial.loss_curve_[:completed], rtol=1e-10)
    assert np.all(np.isfinite(model.network_.params))
    # the weights are exactly those the serial fit had after as many updates
    assert len(parallel_steps) >= 1
    np.testing.assert_allclose(model.network_.params, serial_steps[len(parallel_steps) - 1], rtol=0, atol=1e-10)
