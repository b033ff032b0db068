"""Data-parallel training on a Dask cluster: synchronous gradient averaging.

:func:`fit` trains on the cluster what ``model.fit(X, y)`` trains in one process, with the same
mini-batches and, up to the rounding of sums taken in another order, the same weights:

- the client prepares the estimator as ``fit`` does (parameters, target encoding, the network from
  ``random_state``, the held-out split of early stopping, the baseline loss) and runs the estimator's
  own training loop (``_fit_stochastic``): epochs, mini-batches over the global sample order, the
  L2 term, gradient clipping, the divergence stop with the last good weights, early stopping, the
  curves and the progress bar are those of ``fit``;
- each worker holds a :class:`~._replica.Replica`: a fixed shard of the sequences and a copy of the
  estimator. For every update the client sends the current weights to the workers whose shards have
  sequences in the batch; each runs the same kernels on its share and returns its mean loss and
  gradient; the client averages them, weighted by the shares' sizes (the batch's mean is the
  size-weighted mean of its parts' means), and makes the optimizer step.

Why the client makes the update and sends weights, rather than every worker updating a replica of
its own: both send one vector of the parameters' size to each worker per update, but weights from
one master cannot drift apart, and the divergence stop, early stopping and a lost worker leave one
consistent model. The client's traffic grows with the number of workers (a star): the performance
page of the manual measures it and says where a tree of reductions would pay.

A worker lost during the fit raises :class:`~fastrnn.exceptions.WorkerLostError`: the client turns
an unreachable or lost actor into it, checks every reply's replica token and, while it waits, that
the workers it started on are still in the cluster. The model then keeps the weights of the last
update every worker completed.
"""

import asyncio
import numbers
from concurrent.futures import CancelledError
from functools import partial
from typing import NamedTuple

import numpy as np
from distributed import Client, get_client

from ..estimators._base import BaseRNNEstimator
from ..estimators._training import BatchUpdate, StochasticTraining, TrainingData
from ..exceptions import WorkerLostError
from ._replica import Replica
from ._shards import shard


def fit(model, X, y, *, client=None, poll_interval=1.0):
    """Train ``model`` on a Dask cluster by synchronous data-parallel gradient averaging.

    Each worker holds a shard of the sequences; every mini-batch is the one ``model.fit(X, y)``
    would draw (same ``random_state``), each worker computes the loss and gradient of its share
    of it with fastrnn's kernels, and the client averages the shares and makes the optimizer's
    update. Divergence, clipping, early stopping, ``warm_start``, the curves and the progress bar
    behave as in ``fit``.

    Parameters
    ----------
    model : RNNRegressor or RNNClassifier
        The estimator to train; fitted in place (as ``model.fit`` does) and returned.
    X : dask.array.Array or list
        Sequences, ``(n_samples, n_timesteps, n_features)`` or ``(n_samples, n_timesteps)``, as a
        dask array chunked along samples (cut into one equal range of samples per worker), or as a
        list of shards: numpy arrays (sent to the workers in turn) or futures of arrays already
        on the workers (each stays where it is). Sequences of equal length.
    y : dask.array.Array, array-like or list
        Their targets, as ``fit`` takes them: an array (dask or numpy) with one row per sequence,
        or, for a list of shards, a list of as many target arrays. The targets are gathered on the
        client (the encoding, the held-out split and the baseline loss use all of them).
    client : distributed.Client, optional
        The cluster's client; the current one (``distributed.get_client()``) by default.
    poll_interval : float, default 1.0
        Seconds between checks that the workers are alive while waiting for a reply.

    Returns
    -------
    model
        The fitted estimator.

    Raises
    ------
    TypeError
        ``model`` is not an RNNRegressor or RNNClassifier, ``X`` neither a dask array nor a list,
        or ``client`` not a ``distributed.Client``.
    ValueError
        Bad parameters or data, as in ``fit`` (each worker checks its shard); ``y`` does not match
        ``X``; shards of different sequence lengths; no client and no current one.
    fastrnn.exceptions.WorkerLostError
        A worker holding a shard was lost; the model keeps the weights of the last update every
        worker completed (fit again with ``warm_start=True`` to go on).
    fastrnn.exceptions.TrainingDivergedError
        As in ``fit``: the loss or the gradient became non-finite; the last good weights are kept.

    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> X = da.from_array(X_numpy, chunks=(10_000, -1, -1))  # doctest: +SKIP
    >>> model = fastrnn.dask.fit(RNNRegressor(random_state=0), X, y_numpy)  # doctest: +SKIP
    """
    if not isinstance(model, BaseRNNEstimator):
        raise TypeError(f"fastrnn.dask.fit trains RNNRegressor and RNNClassifier models; got "
                        f"{type(model).__name__}.")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, numbers.Real) or not poll_interval > 0:
        raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
    client = _current_client(client)
    with client.as_current():  # actors and computations go through this client, default or not
        data = shard(client, X, y)
        before = dict(model.__dict__)  # a fit that fails before its first update leaves the model as it was
        try:
            epochs, training, early_stopping = _prepare(client, model, data, poll_interval)
        except BaseException:
            model.__dict__.clear()
            model.__dict__.update(before)
            raise
        del data  # the replicas hold their shards now: the workers keep no second copy
        try:
            model._fit_stochastic(training, incremental=False, early_stopping=early_stopping, hooks=epochs)
        finally:
            epochs.close()
    return model


def _prepare(client, model, data, poll_interval):
    """The client's half of ``fit``'s preparation (checks, encoding, network, split, baselines) and
    the replicas on the workers: ``(hooks, TrainingData, early_stopping)``."""
    model._validate_params()
    first_fit = model._is_first_fit(incremental=False)
    head, _ = model._check_X(data.head, reset=first_fit)  # (1, T, D)
    n_samples = data.n_samples
    shape = np.broadcast_to(np.empty((), head.dtype), (n_samples,) + head.shape[1:])  # X's shape, no data
    targets = model._encode_targets(data.targets, shape, first_fit, None)
    rng = model._start_fit(first_fit)
    model.network_.to("cpu")  # the client's weights, which the optimizer updates
    model._check_truncation(None)
    early_stopping = model.early_stopping
    if early_stopping:
        train, val = model._split_validation(n_samples, targets, rng)
    else:
        train, val = np.arange(n_samples), np.arange(0)
    baseline = model._baseline_loss(targets[train], None)
    validation_baseline = None
    if early_stopping:  # the training data's constant, scored on the held-out data
        validation_baseline = model._baseline_loss(targets[val], None, reference=(targets[train], None))
    epochs = _DataParallelEpochs(client, model, data, train, val, targets[val], poll_interval)
    training = TrainingData(_GlobalRows(None), len(train), len(train), baseline, validation_baseline)
    return epochs, training, early_stopping


def _current_client(client):
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a distributed.Client or None, got {type(client).__name__}.")
        return client
    try:
        return get_client()
    except ValueError:
        raise ValueError("fastrnn.dask.fit needs a Dask cluster: start a distributed.Client (for example "
                         "Client(LocalCluster())) or pass client=.") from None


class _GlobalRows(NamedTuple):
    """The client's stand-in for the training data: the batches index global positions (the
    sequences themselves are on the workers); no sequence is padded."""

    lengths: object


class _DataParallelEpochs:
    """The hooks of :meth:`~fastrnn.estimators._training.StochasticTraining._fit_stochastic` that
    spread every batch over the workers' replicas (module docstring)."""

    _train_batch = StochasticTraining._train_batch  # the one loop from a batch's updates to optimizer steps

    def __init__(self, client, model, data, train, val, targets_val, poll_interval):
        self.client = client
        self.model = model
        self.train = train                  # (n_train,) global positions of the training sequences
        self.targets_val = targets_val      # encoded held-out targets, in the order of val
        self.poll_interval = poll_interval
        self.slot, self.row = data.locate()  # (n_samples,) shard and row of every global position
        self.workers = [part.worker for part in data.shards]  # the worker of each shard's replica
        self.replicas = []
        self.validation_positions = [np.flatnonzero(self.slot[val] == k) for k in range(len(data.shards))]
        threads = client.nthreads()
        futures = []
        for k, (part, positions) in enumerate(zip(data.shards, self.validation_positions)):
            if part.worker not in threads:
                self._lost(k, "it left the cluster")
            futures.append(client.submit(Replica, model, part.x, part.y, self.row[val][positions],
                                         threads[part.worker], actor=True, workers=[part.worker], pure=False))
        self.replicas = [self._wait(future, k) for k, future in enumerate(futures)]
        self.tokens = [None] * len(self.replicas)  # none to check yet: these calls draw them
        self.tokens = self._call("ready", [(k, ()) for k in range(len(self.replicas))])
        n_steps = data.head.shape[1]
        self.updates_per_batch = 1 if model.output == "last" else len(model._time_chunks(n_steps))

    def _epoch_batches(self, data):
        return self.model._epoch_batches(data)

    def _batch_updates(self, data, batch):
        """The batch's updates: each share's loss and gradient from its worker, averaged by size."""
        rows = self.train[batch]
        network = self.model.network_
        shares = [(k, self.row[rows[self.slot[rows] == k]]) for k in range(len(self.replicas))]
        shares = [(k, index) for k, index in shares if len(index)]
        n_samples = len(batch)
        for u in range(self.updates_per_batch):
            params = network.params
            replies = self._call("update", [(k, (params, index if u == 0 else None)) for k, index in shares])
            loss = 0.0
            gradient = np.zeros_like(network.grad)
            for _, share_loss, share_gradient, share_size, _ in replies:
                weight = share_size / n_samples
                loss += weight * share_loss
                gradient += weight * share_gradient
            # the backward pass of the update: the averaged gradient, where the optimizer step reads it
            yield BatchUpdate(loss, n_samples, partial(np.copyto, network.grad, gradient), replies[0][4])

    def _validation_loss_and_score(self, data):
        """Held-out loss and score from the workers' outputs, put back in the held-out order."""
        network = self.model.network_
        holders = [k for k, positions in enumerate(self.validation_positions) if len(positions)]
        replies = self._call("validation_outputs", [(k, (network.params,)) for k in holders])
        outputs = None
        for k, (_, part) in zip(holders, replies):
            if outputs is None:
                outputs = np.empty((len(self.targets_val),) + part.shape[1:], dtype=part.dtype)
            outputs[self.validation_positions[k]] = part
        return self.model._held_out_loss_and_score(outputs, self.targets_val)

    # ------------------------------------------------------------------ talking to the workers
    def _call(self, method, calls):
        """Call ``method`` of the replicas ``k`` of ``calls`` ``[(k, args), ...]`` at once, then wait
        for each reply and check that it comes from the replica started for shard ``k``."""
        futures = []
        for k, args in calls:
            try:
                futures.append(getattr(self.replicas[k], method)(*args))
            except RuntimeError as error:  # Dask already knows the actor's worker is gone
                self._lost(k, str(error))
        replies = [self._wait(future, k) for future, (k, _) in zip(futures, calls)]
        for reply, (k, _) in zip(replies, calls):
            token = reply if method == "ready" else reply[0]
            if self.tokens[k] is not None and token != self.tokens[k]:
                self._lost(k, "a new replica answered: its worker was restarted")
        return replies

    def _wait(self, future, k):
        """The result of ``future`` (a replica's reply, or the replica itself), checking between waits
        that the worker of shard ``k``'s replica, and the others, are still in the cluster."""
        while True:
            try:
                return future.result(timeout=self.poll_interval)
            except (TimeoutError, asyncio.TimeoutError):
                self._check_workers()
            except (OSError, CancelledError, KeyError) as error:  # unreachable worker, lost task or actor
                self._lost(k, str(error) or type(error).__name__)

    def _check_workers(self):
        alive = self.client.nthreads()
        for k, worker in enumerate(self.workers):
            if worker not in alive:
                self._lost(k, "it left the cluster")

    def _lost(self, k, why):
        model = self.model
        when = f"during epoch {model.n_iter_ + 1}" if self.replicas else "while the fit was starting"
        raise WorkerLostError(
            f"The Dask worker {self.workers[k]} holding shard {k} of the data was lost {when} ({why}). The "
            f"model keeps the weights of the last update every worker completed; fit again with "
            f"warm_start=True to go on from them.")

    def close(self):
        """Let the replicas go (their shards and buffers with them)."""
        self.replicas = []
