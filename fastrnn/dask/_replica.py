"""The worker side of data-parallel training: a replica of the model next to one shard of the data.

A :class:`Replica` lives in one Dask worker as an actor (its methods are called from the client
directly, without a task per call) and holds that worker's shard of the training data, checked,
encoded and uploaded to the worker's device once. It keeps no weights of its own between calls:
every call brings the weights of the current update, so a replica cannot drift from the model the
client holds, and the client alone runs the optimizer.

For each update of a batch it runs the estimator's own ``_batch_updates`` (the same forward pass,
loss and BPTT as a fit in one process) on its share of the batch and returns that share's mean loss,
its gradient and its sample count; the client weights them by the counts. The generator of a batch
stays open between calls, so truncated BPTT carries each chunk's final state to the next chunk here,
as in one process.

Every reply carries the replica's ``token``, drawn when it was built: a reply from any other
replica (a worker restarted at the same address, without the state of an open batch) is recognised
and refused by the client.
"""

import uuid

import numpy as np

from ..estimators._training import TrainingData
from ..kernels.cpu.threads import limited_threads


class Replica:
    """One worker's shard of a data-parallel fit and the estimator that trains on it.

    Parameters
    ----------
    model : RNNRegressor or RNNClassifier
        The estimator as the client prepared it (network built, targets' encoding known); a copy.
    X : ndarray, (n_local, n_timesteps, n_features) or (n_local, n_timesteps)
        This worker's training and held-out sequences, in the order of the global data.
    y : ndarray, (n_local, ...)
        Their targets, as ``fit`` takes them.
    validation_index : ndarray of int, (n_local_val,)
        Positions in ``X`` of the held-out sequences this worker scores (early stopping), in the
        order of the global held-out set.
    n_threads : int
        Threads of this worker: the replica's passes split over at most this many.
    """

    def __init__(self, model, X, y, validation_index, n_threads):
        self.token = uuid.uuid4().hex
        self.model = model
        self.n_threads = max(1, int(n_threads))
        with limited_threads(self.n_threads):
            X, lengths = model._check_X(X, reset=False)
            if lengths is not None:  # pragma: no cover - arrays of a dask array are never ragged
                raise ValueError("data-parallel training needs sequences of equal length.")
            targets = model._encode_targets(y, X, reset=False, classes=None)
            network = model.network_.to(model.device)
            self._train = model._device_data(X, targets)
            self._validation = None
            if len(validation_index):
                self._validation = network.backend.asarray(
                    np.ascontiguousarray(X[validation_index].transpose(1, 0, 2)), model._float_type)
        self._batch = None  # the open generator of _batch_updates

    def ready(self):
        """The replica's token, once its shard is checked and on its device."""
        return self.token

    def update(self, params, index=None):
        """The next update of the open batch, or the first of a new batch of local rows ``index``.

        Parameters
        ----------
        params : ndarray, (n_parameters,)
            The weights this update's forward pass uses.
        index : ndarray of int or None
            Rows of this worker's shard that make its share of a new batch; None continues the
            open batch (its next chunk of time).

        Returns
        -------
        tuple
            ``(token, loss, gradient, n_samples, n_steps)``: this share's mean loss and the
            gradient of that mean (:class:`~fastrnn.estimators._training.BatchUpdate`).
        """
        model = self.model
        network = model.network_
        with limited_threads(self.n_threads), network.reusing_buffers():
            self._set_params(params)
            if index is not None:
                data = TrainingData(self._train, len(index), len(index), 0.0)
                self._batch = model._batch_updates(data, np.asarray(index, dtype=np.intp))
            if self._batch is None:
                raise RuntimeError("this replica has no open batch: it was rebuilt after a lost worker.")
            update = next(self._batch)
            update.backward()
            gradient = network.backend.to_host(network.grad).copy()
        return self.token, float(update.loss), gradient, int(update.n_samples), int(update.n_steps)

    def validation_outputs(self, params):
        """``(token, outputs)``: the network's batch-first outputs for this worker's held-out
        sequences with the weights ``params: (n_parameters,)`` (None when it holds none)."""
        if self._validation is None:
            return self.token, None
        with limited_threads(self.n_threads):
            self._set_params(params)
            return self.token, self.model._raw_outputs(self._validation, on_device=True)

    def close(self):
        """Release the training buffers and the data (the actor itself goes when the client drops it)."""
        self.model.network_.release_buffers()
        self._train = self._validation = self._batch = None
        return self.token

    def _set_params(self, params):
        network = self.model.network_
        network.backend.assign(network.active_params, network.backend.asarray(params, network.dtype))
