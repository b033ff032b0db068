"""The recurrent regressor and classifier's shared machinery: parameters, input checks, batches.

The estimators follow scikit-learn's conventions without depending on it at run time: ``__init__``
stores parameters only; every parameter is checked by :class:`~._params.EstimatorParams`; fitted
attributes end in ``_``; ``fit`` and ``partial_fit`` share ``_fit(incremental=...)``, which prepares
the data (``_training_data``) and hands it to the training loop of :mod:`._training`; this module makes the batches
(shuffled, sorted by length, in chunks of ``bptt_steps``) and computes a batch's loss and gradient.
"""

from functools import partial
from typing import NamedTuple

import numpy as np
import scipy.sparse

from .._network import build_network
from ..inspection import check_unidirectional, gradient_flow, head_gradient, network_internals
from .._packing import padding_mask, sort_by_length
from ..data import is_ragged, pad_sequences
from ..kernels.dispatch import CPU_BACKEND
from .._validation import (as_generator, as_real_array, check_finite, check_sequences, check_step,
                           lean_sequences, warn_if_lags_newest_first)
from .._persistence import SaveMixin
from .._torch_export import TorchExportMixin
from ._params import EstimatorParams
from ._training import BatchUpdate, StochasticTraining, TrainingData

_PREDICT_CHUNK = 1024  # samples per forward pass at prediction time (bounds memory)


class _SequenceData(NamedTuple):
    """The training data of :meth:`BaseRNNEstimator._fit`, on the network's device where marked."""

    x: object              # (T, N, D) time-major inputs, on the device
    targets: object        # (N, n_out) / (N,) or time-major (T, N, ...) encoded targets, on the device
    lengths: object        # (N,) int64 lengths of padded sequences, or None
    states: object         # initial state per layer (initial_state), or None
    validation: object     # (X_val, targets_val, lengths_val) with early stopping, else None


def per_sequence(values, lengths, output):
    """Per-step ``values`` of a padded batch as one array per sequence, cut to its own length, when X
    held sequences of different lengths and output="sequence"; else ``values`` unchanged."""
    if lengths is not None and output == "sequence":
        return [values[i, :length] for i, length in enumerate(lengths)]
    return values


def _check_not_sparse(X, name="X"):
    if scipy.sparse.issparse(X):
        raise TypeError(f"{name} is a sparse matrix; sparse input is not supported: pass a dense array "
                        f"(for example {name}.toarray()).")


class BaseRNNEstimator(EstimatorParams, StochasticTraining, SaveMixin, TorchExportMixin):
    """Base of :class:`RNNRegressor` and :class:`RNNClassifier`; see their docstrings."""

    def __init__(self, cell="lstm", hidden_sizes=(64,), nonlinearity="tanh", output="last", bidirectional=False,
                 device="auto", dtype="float32", solver="adam", learning_rate_init=0.001, batch_size="auto",
                 max_iter=200, bptt_steps=None, shuffle=True, alpha=0.0001, clip_grad_norm=1.0, tol=1e-4,
                 n_iter_no_change=10, early_stopping=False, validation_fraction=0.1, momentum=0.9,
                 nesterovs_momentum=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8, random_state=None, warm_start=False,
                 verbose=False):
        self._store_parameters(locals())

    # ------------------------------------------------------------------ input checks
    def _check_X(self, X, reset):
        """Validate X; on ``reset`` learn ``n_features_in_``.

        Returns ``(X3, lengths)``: X3 batch-first float (n_samples, n_timesteps, n_features); lengths
        None, or the (n_samples,) lengths when X was a list of sequences of different lengths (X3 is
        then zero-padded to the longest).
        """
        if not reset:  # a 3-D array of the working dtype (predict's common input) passes as it is
            checked = lean_sequences(X, self.n_features_in_, self._float_type)
            if checked is not None:
                return checked, None
        _check_not_sparse(X)
        if reset:
            warn_if_lags_newest_first(X)
        lengths = None
        if is_ragged(X):
            X, lengths = pad_sequences(X, dtype=self._float_type, name="X")
        array = as_real_array(X, "X", self._float_type)
        if array.ndim == 1:
            raise ValueError(
                f"X is 1-D (shape {array.shape}); Reshape your data: one univariate series is "
                f"X.reshape(1, -1), a batch of scalar-valued sequences is X.reshape(-1, 1).")
        if reset:
            if array.ndim not in (2, 3):
                raise ValueError(
                    f"X must be 3-D (n_samples, n_timesteps, n_features) or 2-D (n_samples, n_timesteps) "
                    f"for univariate series; got an array of shape {array.shape}.")
            n_features = 1 if array.ndim == 2 else array.shape[2]
        else:
            n_features = self.n_features_in_
        try:
            checked = check_sequences(array, n_features, self._float_type)
        except ValueError as exc:
            if not reset and "features per time step" in str(exc):
                raise ValueError(f"{exc} {type(self).__name__} was fitted with n_features_in_="
                                 f"{self.n_features_in_}.") from None
            raise
        if reset:
            self.n_features_in_ = n_features
        return checked[0], lengths

    def _pad_targets(self, y, lengths, n_steps):
        """Per-step targets of sequences of different lengths (output="sequence"), as one array padded
        with each sequence's first target (a valid value of its type; padded steps carry no loss)."""
        if lengths is None or self.output != "sequence":
            return y
        if not isinstance(y, (list, tuple)) or len(y) != len(lengths):
            raise ValueError(f"X holds {len(lengths)} sequences of different lengths, so y must be a list of as "
                             f"many per-step target sequences, got {type(y).__name__}.")
        padded = []
        for i, (target, length) in enumerate(zip(y, lengths)):
            target = np.asarray(target)
            if target.ndim == 0 or target.shape[0] != length:
                raise ValueError(f"y[{i}] must hold one target per step of X[{i}] ({length}), got shape "
                                 f"{target.shape}.")
            padded.append(np.concatenate([target, np.repeat(target[:1], n_steps - length, axis=0)]))
        return np.stack(padded)

    def _step_weights(self, lengths, n_steps):
        """output="sequence": (T, B) time-major weights, 1 on the steps each sequence has, 0 on its
        padding; None when there is no padding or one output per sequence."""
        if lengths is None or self.output != "sequence":
            return None
        return (~padding_mask(lengths, n_steps)).astype(self._float_type)

    def _check_initial_state(self, initial_state, n_samples):
        """Validate ``initial_state``: one entry per layer, h0 (n_samples, H_k), LSTM a pair (h0, c0)."""
        if initial_state is None:
            return None
        if self.bidirectional:
            raise ValueError("initial_state is not supported with bidirectional=True (the reverse direction "
                             "starts at each sequence's end).")
        layers = self.network_.layers
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(layers):
            raise ValueError(f"initial_state must be a list with one entry per recurrent layer "
                             f"({len(layers)}), got {type(initial_state).__name__}.")
        states = []
        for k, (layer, entry) in enumerate(zip(layers, initial_state)):
            shape = (n_samples, layer.hidden_size)
            parts = entry if layer.has_cell_state else (entry,)
            if layer.has_cell_state and (not isinstance(entry, (tuple, list)) or len(entry) != 2):
                raise ValueError(f"initial_state[{k}] must be a pair (h0, c0) of arrays of shape {shape}.")
            arrays = []
            for part, label in zip(parts, ("h0", "c0")):
                array = as_real_array(part, f"initial_state[{k}] ({label})", self._float_type)
                if array.shape != shape:
                    raise ValueError(f"initial_state[{k}] ({label}) must have shape {shape}, got {array.shape}.")
                check_finite(array, f"initial_state[{k}] ({label})")
                arrays.append(array[np.newaxis])
            states.append((arrays[0], arrays[1] if layer.has_cell_state else None))
        return states

    @staticmethod
    def _slice_states(states, index):
        if states is None:
            return None
        return [(h[:, index], None if c is None else c[:, index]) for h, c in states]

    def _raw_outputs(self, X, initial_state=None, on_device=False, lengths=None):
        """Network outputs for validated X, chunked; (n, n_out) or (n, T, n_out) host arrays.

        ``X``: batch-first host array ``(n, T, D)``; with ``on_device`` (during fit: the validation
        set, uploaded once) a time-major array ``(T, n, D)`` on the network's device, whose
        parameters are then used as they are; otherwise the host parameters are (re)loaded onto the
        resolved ``device`` first. ``lengths``: per-sample lengths of a padded X (None: all steps).
        """
        network = self.network_
        if not on_device:
            network.to(self.device)
        backend = network.backend
        if on_device:
            x_tm, n_samples = X, X.shape[1]
        else:
            x_tm, n_samples = np.ascontiguousarray(X.transpose(1, 0, 2)), X.shape[0]
        states = self._check_initial_state(initial_state, n_samples)
        pieces = []
        for start in range(0, n_samples, _PREDICT_CHUNK):
            stop = min(start + _PREDICT_CHUNK, n_samples)
            batch_lengths = None
            if lengths is None and not on_device:  # samples start:stop as they are (all of them: no copy)
                index = slice(start, stop)
                x_batch = x_tm if stop - start == n_samples else np.ascontiguousarray(x_tm[:, index])
            else:
                index = np.arange(start, stop)
                if lengths is not None:  # the kernels take a batch sorted by decreasing length
                    order, inverse = sort_by_length(lengths[index])
                    index, batch_lengths = index[order], lengths[index[order]]
                x_batch = backend.gather_batch(x_tm, index) if on_device else CPU_BACKEND.gather_batch(x_tm, index)
            batch_states = self._slice_states(states, index)
            if not on_device and network.packs_inference(x_batch.shape[1]):  # few sequences: one compiled call
                out = network.packed_forward(x_batch, batch_states, batch_lengths)
                out = out if self.output == "last" else out.transpose(1, 0, 2)
                pieces.append(out if lengths is None else out[inverse])
                continue
            outs = []
            # with bptt_steps, in chunks of time (bounded memory); not across the reverse direction or padding
            whole = self.bidirectional or batch_lengths is not None
            chunks = [slice(0, x_batch.shape[0])] if whole else self._time_chunks(x_batch.shape[0])
            tape = None
            for chunk in chunks:
                if tape is not None:  # the next chunk of time starts where the last one ended
                    batch_states = network.final_states(tape)
                outputs, tape = network.forward(x_batch[chunk], batch_states, batch_lengths, train=False)
                outs.append(backend.to_host(outputs))
            if self.output == "last":
                out = outs[-1]
            else:
                out = (outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)).transpose(1, 0, 2)
            pieces.append(out if lengths is None else out[inverse])
        # the head's outputs are new arrays of this call (copies on a GPU): one piece is returned as it is
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)

    def stream(self, n_streams=1):
        """Run the fitted model one time step at a time, keeping its state between steps.

        Parameters
        ----------
        n_streams : int, default 1
            Independent sequences advanced side by side.

        Returns
        -------
        fastrnn.streaming.Stream
            ``step(x_t)`` with ``x_t`` of shape (n_streams, n_features) returns what ``predict`` returns
            for each stream's sequence so far (output="last") or at this step (output="sequence");
            ``reset()`` / ``reset(i)`` go back to zero states. A classifier's stream
            (:class:`fastrnn.streaming.ClassifierStream`) also has ``step_proba`` and ``step_decision``.
            It holds a copy of the current weights: refitting does not change it.

        Raises
        ------
        ValueError
            With ``bidirectional=True`` (the reverse direction needs the future).
        """
        from ..streaming import make_stream

        return make_stream(self, n_streams)

    def _network_spec(self):
        """The class and ``config()`` of the network this fitted model has (built on a first fit;
        checked against a saved file's)."""
        return "SequenceNetwork", {
            "cell": self.cell, "nonlinearity": self.nonlinearity if self.cell == "rnn" else "tanh",
            "n_features": self.n_features_in_, "hidden_sizes": [int(s) for s in self.hidden_sizes],
            "n_outputs": self._n_network_outputs(), "output": self.output,
            "dtype": np.dtype(self._float_type).name, "bidirectional": bool(self.bidirectional)}

    # ------------------------------------------------------------------ inspection
    def inspect(self, X):
        """The states and gate activations of every recurrent layer at every step, for inputs ``X``.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps), or list
            Sequences, as in :meth:`predict` (from zero initial states); sequences of different
            lengths are read to their own ends.

        Returns
        -------
        list of dict
            One dict per recurrent layer (``hidden_sizes``), bottom first: name -> float64 array
            (n_samples, n_timesteps, H). ``"h"`` is the hidden state after each step, ``"c"`` the
            LSTM's cell state; the gate activations are the LSTM's ``"i", "f", "g", "o"`` (input,
            forget, candidate, output) and the GRU's ``"r", "z", "n"`` (reset, update, candidate),
            PyTorch's gates; a bidirectional layer adds the reverse direction's under the same
            names with ``"_reverse"``, at each time step. Steps past a sequence's length are NaN.
            Computed in ``dtype`` by the kernels that predict.

        Examples
        --------
        >>> internals = model.inspect(X[:5])  # doctest: +SKIP
        >>> internals[0]["f"].shape  # the first layer's forget gate, (5, n_timesteps, H)  # doctest: +SKIP
        """
        self._check_is_fitted()
        X, lengths = self._check_X(X, reset=False)
        network = self.network_.to(self.device)
        order = sorted_lengths = None
        if lengths is not None:  # the kernels take a batch sorted by decreasing length
            order = sort_by_length(lengths)[0]
            X, sorted_lengths = X[order], lengths[order]
        _, tape = network.forward(np.ascontiguousarray(X.transpose(1, 0, 2)), None, sorted_lengths, train=True)
        return network_internals(network, tape, order, sorted_lengths)

    def gradient_flow(self, X, y, step=-1, per_sample=False):
        """How much of the gradient of the loss at one step reaches each earlier step of each layer.

        For each sample's loss at ``step`` (its training loss: squared error or cross-entropy), the
        norm of its gradient with respect to each layer's hidden state after each step ``t <= step``,
        ``||dL/dh_t||``, computed by the kernels' BPTT (see :mod:`fastrnn.inspection`): how much of
        the error signal reaches ``t`` steps back. With ``output="last"`` the loss at ``step`` is that
        of the prediction made from the state after ``step`` (the last step by default).

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
            Sequences of equal length.
        y : array-like
            Their targets, as in :meth:`fit`.
        step : int, default -1
            The step of the loss (negative counts from the end).
        per_sample : bool, default False
            Keep one row per sample instead of the mean over samples.

        Returns
        -------
        fastrnn.inspection.GradientFlow
            ``norms`` (n_layers, step + 1) (or (n_layers, n_samples, step + 1)), ``distance`` =
            ``step - t``, ``step``.

        Raises
        ------
        ValueError
            For bidirectional layers, or sequences of different lengths.
        """
        self._check_is_fitted()
        check_unidirectional(self.bidirectional)
        X, lengths = self._check_X(X, reset=False)
        if lengths is not None:
            raise ValueError("gradient_flow needs sequences of equal length.")
        targets = self._encode_targets(y, X, reset=False, classes=None)
        step = check_step(step, X.shape[1])
        network = self.network_.to(self.device)
        backend = network.backend
        at_step = targets if self.output == "last" else targets[:, step]
        layers = [(layer, network._param_views[k]) for k, layer in enumerate(network.layers)]
        return gradient_flow(layers, X.transpose(1, 0, 2), step,
                             lambda h_top: head_gradient(self, h_top, at_step), backend, per_sample)

    # ------------------------------------------------------------------ training
    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(32, n_samples)
        return min(self.batch_size, n_samples)

    def _split_validation(self, n, targets, rng):
        """Indices (train, validation) holding out ``validation_fraction`` of the ``n`` samples: at
        random (stratified by class for classifiers) when ``shuffle``, else the last samples, so that
        time order is kept."""
        if n < 2:
            raise ValueError(f"early_stopping=True needs at least 2 samples to hold out a validation set; got {n}.")
        if self.shuffle:
            return self._validation_indices(targets, rng)
        n_val = min(max(1, int(round(self.validation_fraction * n))), n - 1)
        return np.arange(n - n_val), np.arange(n - n_val, n)

    def _validation_indices(self, targets, rng):
        n = targets.shape[0]
        n_val = min(max(1, int(round(self.validation_fraction * n))), n - 1)
        order = rng.permutation(n)
        return order[n_val:], order[:n_val]

    def _fit(self, X, y, incremental, initial_state=None, classes=None):
        """``fit`` (``incremental=False``) and ``partial_fit`` (one epoch): check the data, build the
        network on a first fit, and train it (:meth:`~._training.StochasticTraining._fit_stochastic`)."""
        data, early_stopping = self._training_data(X, y, incremental, initial_state, classes)
        return self._fit_stochastic(data, incremental, early_stopping)

    def _training_data(self, X, y, incremental=False, initial_state=None, classes=None):
        """Check the data, build the network on a first fit (a new one unless ``warm_start`` or
        ``incremental``) and put it on its device; returns the :class:`~._training.TrainingData` and
        whether early stopping holds out part of it."""
        self._validate_params()
        first_fit = self._is_first_fit(incremental)
        X, lengths = self._check_X(X, reset=first_fit)
        targets = self._encode_targets(self._pad_targets(y, lengths, X.shape[1]), X, first_fit, classes)
        rng = self._start_fit(first_fit)
        network = self.network_.to(self.device)  # parameters go to the device once
        backend = network.backend
        states = self._check_initial_state(initial_state, X.shape[0])
        self._check_truncation(lengths)
        early_stopping = self.early_stopping and not incremental
        validation = None
        if early_stopping:
            if states is not None:
                raise ValueError("initial_state cannot be combined with early_stopping=True.")
            train, val = self._split_validation(X.shape[0], targets, rng)
            X, targets, X_val, targets_val = X[train], targets[train], X[val], targets[val]
            lengths_val = None
            if lengths is not None:
                lengths, lengths_val = lengths[train], lengths[val]
            # the validation inputs go to the device once
            x_val = backend.asarray(np.ascontiguousarray(X_val.transpose(1, 0, 2)), self._float_type)
            validation = (x_val, targets_val, lengths_val)
        content = self._device_data(X, targets, lengths, states, validation)
        step_weights = self._step_weights(lengths, X.shape[1])  # (T, N) or None
        step_weights = None if step_weights is None else step_weights.T
        baseline = self._baseline_loss(targets, step_weights)
        validation_baseline = None
        if early_stopping:  # the training data's constant, scored on the held-out data
            val_weights = self._step_weights(lengths_val, X_val.shape[1])
            validation_baseline = self._baseline_loss(targets_val, None if val_weights is None else val_weights.T,
                                                      reference=(targets, step_weights))
        data = TrainingData(content, X.shape[0], X.shape[0], baseline, validation_baseline)
        return data, early_stopping

    def _check_truncation(self, lengths):
        """Refuse ``bptt_steps`` where the state cannot be carried forward in time from chunk to chunk."""
        if self.bptt_steps is not None and (self.bidirectional or lengths is not None):
            raise ValueError("bptt_steps (truncated BPTT) needs unidirectional layers and sequences of equal "
                             "length: the state is carried forward in time from chunk to chunk.")

    def _is_first_fit(self, incremental):
        """Whether this fit starts a new network: no fitted one yet, or neither ``warm_start`` nor
        ``partial_fit`` continuing it."""
        return not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)

    def _start_fit(self, first_fit):
        """The random generator of this fit; on a first fit, a new one from ``random_state``, the
        network built from it and empty curves (after ``n_features_in_`` and the targets' encoding
        are known)."""
        if not first_fit:
            return self._rng
        self._rng = rng = as_generator(self.random_state)
        self.network_ = build_network(*self._network_spec(), rng)
        self._start_training(self.early_stopping)
        return rng

    def _device_data(self, X, targets, lengths=None, states=None, validation=None):
        """The :class:`_SequenceData` of checked batch-first ``X: (N, T, D)`` and encoded ``targets``
        on the network's device: the training data go there once, and mini-batches are gathered there
        (the targets too: the loss runs there)."""
        backend = self.network_.backend
        x_tm = backend.asarray(np.ascontiguousarray(X.transpose(1, 0, 2)), self._float_type)
        targets_tm = targets if self.output == "last" else np.ascontiguousarray(np.swapaxes(targets, 0, 1))
        targets_tm = backend.asarray(targets_tm, targets_tm.dtype)
        return _SequenceData(x_tm, targets_tm, lengths, states, validation)

    # ------------------------------------------------------------------ hooks of the training loop
    def _epoch_batches(self, data):
        """Mini-batches ``(index, weight)`` of one epoch: ``batch_size`` samples each, shuffled when
        ``shuffle``, each batch sorted by decreasing length when the lengths differ."""
        lengths = data.content.lengths
        n_samples = data.n_samples
        order = self._rng.permutation(n_samples) if self.shuffle else np.arange(n_samples)
        batch = self._batch_size(n_samples)
        for start in range(0, n_samples, batch):
            index = order[start:start + batch]
            if lengths is not None:  # the kernels take a batch sorted by decreasing length
                index = index[sort_by_length(lengths[index])[0]]
            yield index, len(index)

    def _batch_updates(self, data, index):
        """The updates of the mini-batch ``index`` (:class:`~._training.BatchUpdate`), in chunks of
        ``bptt_steps`` when set.

        Truncated BPTT: the chunks run in time order and each starts from the previous chunk's final
        state (carried, but not backpropagated through). With output="sequence" every chunk makes an
        update on its own steps' loss; with output="last" the earlier chunks only carry the state
        forward and the update is made on the last chunk.
        """
        content = data.content
        network = self.network_
        backend = network.backend
        lengths = None if content.lengths is None else content.lengths[index]
        targets = _gather_targets(backend, content.targets, index, self.output == "last")
        states = self._slice_states(content.states, index)
        x = backend.gather_batch(content.x, index)
        chunks = self._time_chunks(x.shape[0])
        tape = None
        for k, chunk in enumerate(chunks):
            x_chunk = x[chunk]
            if tape is not None:  # carried from the previous chunk, not backpropagated through
                states = network.final_states(tape)
            if self.output == "last" and k < len(chunks) - 1:
                _, tape = network.forward(x_chunk, states, lengths, train=False)
                continue
            outputs, tape = network.forward(x_chunk, states, lengths)
            weights = self._step_weights(lengths, x_chunk.shape[0])
            loss, d_outputs = self._loss(backend, outputs, targets if self.output == "last" else targets[chunk],
                                         None if weights is None else backend.asarray(weights, weights.dtype))
            yield BatchUpdate(loss, x_chunk.shape[1],
                              partial(network.backward, tape, backend.asarray(d_outputs, network.dtype)),
                              1 if self.output == "last" else chunk.stop - chunk.start)

    def _validation_loss_and_score(self, data):
        """Loss and score of the held-out set (early stopping), with the current weights."""
        x_val, targets_val, lengths_val = data.content.validation
        return self._held_out_loss_and_score(self._raw_outputs(x_val, on_device=True, lengths=lengths_val),
                                             targets_val, lengths_val)

    def _held_out_loss_and_score(self, val_out, targets_val, lengths_val=None):
        """Loss and score of the network's batch-first outputs ``val_out`` for the held-out
        ``targets_val`` (sequences of ``lengths_val``, or all of full length)."""
        val_weights = self._step_weights(lengths_val, val_out.shape[1])
        val_loss = self._loss(CPU_BACKEND, val_out if self.output == "last" else val_out.transpose(1, 0, 2),
                              targets_val if self.output == "last" else np.swapaxes(targets_val, 0, 1),
                              val_weights)[0]
        score = self._score_outputs(val_out, targets_val, None if val_weights is None else val_weights.T > 0)
        return val_loss, score

    def _time_chunks(self, n_steps):
        """Slices of the time axis that truncated BPTT trains one after the other (one slice, all
        steps, without ``bptt_steps``)."""
        if self.bptt_steps is None or self.bptt_steps >= n_steps:
            return [slice(0, n_steps)]
        return [slice(start, min(start + self.bptt_steps, n_steps)) for start in range(0, n_steps, self.bptt_steps)]


def _gather_targets(backend, targets, index, per_sequence):
    """The targets of the mini-batch ``index`` on ``backend``: rows of ``targets: (N, ...)``
    (``per_sequence``) or columns of the time-major ``targets: (T, N, ...)``."""
    if backend.name == "cpu":
        return targets[index] if per_sequence else targets[:, index]
    steps = 1 if per_sequence else targets.shape[0]
    rows = targets.reshape(steps, targets.shape[0 if per_sequence else 1], -1)
    batch = backend.gather_batch(rows, index)
    return batch.reshape((len(index),) + targets.shape[1:] if per_sequence
                         else (targets.shape[0], len(index)) + targets.shape[2:])
