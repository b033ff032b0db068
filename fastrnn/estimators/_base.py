"""Shared machinery of the recurrent estimators: parameters, validation, the epoch loop.

The estimators follow scikit-learn's conventions without depending on it at run time: ``__init__``
stores parameters only; every parameter is checked in :meth:`BaseRNNEstimator._validate_params`;
fitted attributes end in ``_``; ``fit`` and ``partial_fit`` share ``_fit(incremental=...)``; the
epoch loop is plain Python around the compiled forward/backward of :class:`SequenceNetwork`.
"""

import functools
import inspect
import numbers
import warnings

import numpy as np
import scipy.sparse

from .._network import SequenceNetwork
from .._packing import padding_mask, sort_by_length
from .._progress import ProgressBar
from ..data import is_ragged, pad_sequences
from ..kernels.dispatch import resolve_device
from .._validation import as_generator, as_real_array, check_finite, check_sequences
from .. import exceptions
from ..exceptions import TrainingDivergedError
from ..optimizers import SGD, Adagrad, Adam

_PREDICT_CHUNK = 1024  # samples per forward pass at prediction time (bounds memory)


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


# name -> (check, description of what is expected); one table for every parameter
_PARAMETER_RULES = {
    "cell": (lambda v: v in ("rnn", "lstm", "gru"), "one of 'rnn', 'lstm', 'gru'"),
    "hidden_sizes": (lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(_is_int(s) and s >= 1 for s in v),
                     "a non-empty tuple of integers >= 1"),
    "nonlinearity": (lambda v: v in ("tanh", "relu"), "one of 'tanh', 'relu'"),
    "output": (lambda v: v in ("last", "sequence"), "one of 'last', 'sequence'"),
    "bidirectional": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "bptt_steps": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an integer >= 1"),
    "seq_length": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "max_output_length": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an integer >= 1"),
    "device": (lambda v: v in ("auto", "cpu", "cuda"), "one of 'auto', 'cpu', 'cuda'"),
    "dtype": (lambda v: v in ("float32", "float64", np.float32, np.float64), "'float32' or 'float64'"),
    "solver": (lambda v: v in ("sgd", "adam", "adagrad"), "one of 'sgd', 'adam', 'adagrad'"),
    "learning_rate_init": (lambda v: _is_real(v) and v > 0, "a float > 0"),
    "batch_size": (lambda v: v == "auto" or (_is_int(v) and v >= 1), "'auto' or an integer >= 1"),
    "max_iter": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "shuffle": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "alpha": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "clip_grad_norm": (lambda v: v is None or (_is_real(v) and v > 0), "None or a float > 0"),
    "tol": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "n_iter_no_change": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "early_stopping": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "validation_fraction": (lambda v: _is_real(v) and 0 < v < 1, "a float in (0, 1)"),
    "momentum": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "nesterovs_momentum": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "beta_1": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "beta_2": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "epsilon": (lambda v: _is_real(v) and v > 0, "a float > 0"),
    "random_state": (lambda v: v is None or _is_int(v) or isinstance(v, (np.random.RandomState, np.random.Generator)),
                     "None, an int, a numpy RandomState or Generator"),
    "warm_start": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "verbose": (lambda v: isinstance(v, (bool, np.bool_)) or (_is_int(v) and v >= 0), "a bool or an integer >= 0"),
}


def _check_not_sparse(X, name="X"):
    if scipy.sparse.issparse(X):
        raise TypeError(f"{name} is a sparse matrix; sparse input is not supported: pass a dense array "
                        f"(for example {name}.toarray()).")


class BaseRNNEstimator:
    """Base of :class:`RNNRegressor` and :class:`RNNClassifier`; see their docstrings."""

    def __init__(self, cell="lstm", hidden_sizes=(64,), nonlinearity="tanh", output="last", bidirectional=False,
                 device="auto", dtype="float32", solver="adam", learning_rate_init=0.001, batch_size="auto",
                 max_iter=200, bptt_steps=None, shuffle=True, alpha=0.0001, clip_grad_norm=1.0, tol=1e-4,
                 n_iter_no_change=10, early_stopping=False, validation_fraction=0.1, momentum=0.9, nesterovs_momentum=True,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, random_state=None, warm_start=False, verbose=False):
        self.cell = cell
        self.hidden_sizes = hidden_sizes
        self.nonlinearity = nonlinearity
        self.output = output
        self.bidirectional = bidirectional
        self.device = device
        self.dtype = dtype
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.bptt_steps = bptt_steps
        self.shuffle = shuffle
        self.alpha = alpha
        self.clip_grad_norm = clip_grad_norm
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------------ scikit-learn estimator API
    @classmethod
    def _get_param_names(cls):
        return list(_init_parameter_names(cls))

    def get_params(self, deep=True):
        """Parameters of this estimator (scikit-learn's API).

        Parameters
        ----------
        deep : bool
            Unused: the estimator holds no sub-estimators.

        Returns
        -------
        dict of str -> value
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters (scikit-learn's API); they are checked at the next ``fit``.

        Returns
        -------
        self
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name].default
            same = value is default
            if not same:
                try:
                    same = bool(np.all(value == default)) and type(value) is type(default)
                except Exception:  # noqa: BLE001 - arbitrary user values
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _base_tags(self):
        from sklearn.utils import Tags, TargetTags  # only called by scikit-learn itself

        tags = Tags(estimator_type=None, target_tags=TargetTags(required=True))
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.non_deterministic = self.random_state is None
        return tags

    def _check_is_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise exceptions.NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 f"appropriate arguments before using this estimator.")

    def _validate_params(self):
        for name in self._get_param_names():
            check, expected = _PARAMETER_RULES[name]
            value = getattr(self, name)
            try:
                ok = bool(check(value))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"The {name!r} parameter of {type(self).__name__} must be {expected}; "
                                 f"got {value!r}.")
        resolve_device(self.device)  # RuntimeError for "cuda" without numba-cuda or a GPU

    @property
    def _float_type(self):
        return np.float64 if self.dtype in ("float64", np.float64) else np.float32

    # ------------------------------------------------------------------ input checks
    def _check_X(self, X, reset):
        """Validate X; on ``reset`` learn ``n_features_in_``.

        Returns ``(X3, lengths)``: X3 batch-first float (n_samples, n_timesteps, n_features); lengths
        None, or the (n_samples,) lengths when X was a list of sequences of different lengths (X3 is
        then zero-padded to the longest).
        """
        _check_not_sparse(X)
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
        """Network outputs for validated X (batch-first), chunked; (n, n_out) or (n, T, n_out).

        Runs on the resolved ``device``; with ``on_device`` (during fit) the parameters already there
        are used, otherwise the host parameters are (re)loaded onto it first. ``lengths``: per-sample
        lengths of a padded X (None: all steps).
        """
        network = self.network_
        if not on_device:
            network.to(resolve_device(self.device))
        x_tm = np.ascontiguousarray(X.transpose(1, 0, 2))
        states = self._check_initial_state(initial_state, X.shape[0])
        pieces = []
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            index = np.arange(start, min(start + _PREDICT_CHUNK, X.shape[0]))
            batch_lengths = None
            if lengths is not None:  # the kernels take a batch sorted by decreasing length
                order, inverse = sort_by_length(lengths[index])
                index, batch_lengths = index[order], lengths[index[order]]
            x_batch = np.ascontiguousarray(x_tm[:, index])
            batch_states = self._slice_states(states, index)
            outs = []
            # with bptt_steps, in chunks of time (bounded memory); not across the reverse direction or padding
            whole = self.bidirectional or batch_lengths is not None
            chunks = [slice(0, x_batch.shape[0])] if whole else self._time_chunks(x_batch.shape[0])
            for k, chunk in enumerate(chunks):
                if k > 0:
                    batch_states = network.final_states()
                outs.append(network.backend.to_host(network.forward(x_batch[chunk], batch_states, batch_lengths,
                                                                  train=False)))
            out = outs[-1] if self.output == "last" else np.concatenate(outs, axis=0).transpose(1, 0, 2)
            pieces.append(out if lengths is None else out[inverse])
        return np.concatenate(pieces, axis=0)

    # ------------------------------------------------------------------ training
    def _make_optimizer(self):
        if self.solver == "adam":
            return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        if self.solver == "sgd":
            return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum)
        return Adagrad(self.learning_rate_init)

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
        self._validate_params()
        first_fit = not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)
        X, lengths = self._check_X(X, reset=first_fit)
        targets = self._encode_targets(self._pad_targets(y, lengths, X.shape[1]), X, first_fit, classes)
        rng = as_generator(self.random_state) if first_fit else self._rng
        if first_fit:
            self._rng = rng
            self.network_ = SequenceNetwork(
                self.cell, self.nonlinearity, X.shape[2], tuple(int(s) for s in self.hidden_sizes),
                self._n_network_outputs(), self.output, self._float_type, rng, bool(self.bidirectional))
            self.loss_curve_, self.grad_norm_curve_, self.clipped_fraction_curve_ = [], [], []
            self.validation_loss_curve_ = [] if self.early_stopping else None
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_loss_ = np.inf if not self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self.n_iter_, self.t_ = 0, 0
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
            self._no_improvement_count = 0
        network = self.network_.to(resolve_device(self.device))  # parameters go to the device once
        backend = network.backend
        states = self._check_initial_state(initial_state, X.shape[0])
        if self.bptt_steps is not None and (self.bidirectional or lengths is not None):
            raise ValueError("bptt_steps (truncated BPTT) needs unidirectional layers and sequences of equal "
                             "length: the state is carried forward in time from chunk to chunk.")
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            if states is not None:
                raise ValueError("initial_state cannot be combined with early_stopping=True.")
            train, val = self._split_validation(X.shape[0], targets, rng)
            X, targets, X_val, targets_val = X[train], targets[train], X[val], targets[val]
            if lengths is not None:
                lengths, lengths_val = lengths[train], lengths[val]
            best_params = backend.copy(network.active_params)
        # the training data go to the device once; mini-batches are gathered there
        x_tm = backend.asarray(np.ascontiguousarray(X.transpose(1, 0, 2)), self._float_type)
        targets_tm = targets if self.output == "last" else np.ascontiguousarray(np.swapaxes(targets, 0, 1))
        n_samples = X.shape[0]
        batch = self._batch_size(n_samples)
        n_epochs = 1 if incremental else self.max_iter
        progress = ProgressBar(n_epochs, self.verbose) if self.verbose else None
        stopped_early = False
        last_good = backend.copy(network.active_params)  # weights that gave the last finite loss
        for _ in range(n_epochs):
            order = rng.permutation(n_samples) if self.shuffle else np.arange(n_samples)
            epoch_loss, norms, n_clipped = 0.0, [], 0
            for start in range(0, n_samples, batch):
                index = order[start:start + batch]
                batch_lengths = None
                if lengths is not None:  # the kernels take a batch sorted by decreasing length
                    index = index[sort_by_length(lengths[index])[0]]
                    batch_lengths = lengths[index]
                if self.output == "last":
                    target_batch = targets_tm[index]
                else:
                    target_batch = targets_tm[:, index]
                try:
                    with network.reusing_buffers():
                        batch_loss, batch_norms, batch_clipped = self._train_batch(
                            backend.gather_batch(x_tm, index), target_batch, self._slice_states(states, index),
                            last_good, batch_lengths)
                except TrainingDivergedError:  # the last good weights are already back in place
                    network.release_buffers()
                    if progress:
                        progress.close()
                    raise
                epoch_loss += batch_loss * len(index)
                norms += batch_norms
                n_clipped += batch_clipped
            self.n_iter_ += 1
            self.t_ += n_samples
            self.loss_curve_.append(epoch_loss / n_samples)
            self.grad_norm_curve_.append(float(np.mean(norms)))
            self.clipped_fraction_curve_.append(n_clipped / len(norms))
            extra = ""
            if early_stopping:
                val_out = self._raw_outputs(X_val, on_device=True, lengths=None if lengths is None else lengths_val)
                val_lengths = None if lengths is None else lengths_val
                val_weights = self._step_weights(val_lengths, X_val.shape[1])
                val_loss = self._loss(val_out if self.output == "last" else val_out.transpose(1, 0, 2),
                                      targets_val if self.output == "last" else np.swapaxes(targets_val, 0, 1),
                                      val_weights)[0]
                score = self._score_outputs(val_out, targets_val, None if val_weights is None else val_weights.T > 0)
                self.validation_loss_curve_.append(val_loss)
                self.validation_scores_.append(score)
                extra = f" val_loss {val_loss:.5g} val_score {score:.4f}"
                if score < self.best_validation_score_ + self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    backend.assign(best_params, network.active_params)
            else:
                if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
            if progress:
                progress.update(self.n_iter_ if not incremental else 1, self.loss_curve_[-1], extra)
            if not incremental and self._no_improvement_count > self.n_iter_no_change:
                stopped_early = True
                break
        if early_stopping:
            backend.assign(network.active_params, best_params)
        network.sync_to_host()
        if not incremental:  # partial_fit keeps the training buffers for its next call
            network.release_buffers()
        if progress:
            message = ""
            if stopped_early:
                what = "Validation score" if early_stopping else "Training loss"
                message = (f"{what} did not improve more than tol={self.tol} for {self.n_iter_no_change} "
                           f"consecutive epochs. Stopping.")
            progress.close(message)
        if not incremental and not stopped_early:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          f"optimization hasn't converged yet.", exceptions.ConvergenceWarning, stacklevel=3)
        return self

    def _start_record(self):
        """A first fit of the estimators that train on the training loss alone (CharRNN, Seq2Seq):
        empty curves, a new optimizer."""
        self.loss_curve_, self.grad_norm_curve_, self.clipped_fraction_curve_ = [], [], []
        self.best_loss_, self.n_iter_ = np.inf, 0
        self._optimizer = self._make_optimizer()
        self._no_improvement_count = 0

    def _end_epoch(self, loss, norms, n_clipped):
        """Record an epoch's loss, gradient norms and clipping; count epochs without improvement of
        the training loss (for the estimators of :meth:`_start_record`)."""
        self.n_iter_ += 1
        self.loss_curve_.append(loss)
        self.grad_norm_curve_.append(float(np.mean(norms)))
        self.clipped_fraction_curve_.append(n_clipped / len(norms))
        self._no_improvement_count = (self._no_improvement_count + 1
                                      if self.loss_curve_[-1] > self.best_loss_ - self.tol else 0)
        self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _time_chunks(self, n_steps):
        """Slices of the time axis that truncated BPTT trains one after the other (one slice, all
        steps, without ``bptt_steps``)."""
        if self.bptt_steps is None or self.bptt_steps >= n_steps:
            return [slice(0, n_steps)]
        return [slice(start, min(start + self.bptt_steps, n_steps)) for start in range(0, n_steps, self.bptt_steps)]

    def _train_batch(self, x, targets, states, last_good, lengths):
        """Train on one mini-batch (time-major ``x``), in chunks of ``bptt_steps`` when set.

        Truncated BPTT: the chunks run in time order and each starts from the previous chunk's final
        state (carried, but not backpropagated through). With output="sequence" every chunk makes an
        update on its own steps' loss; with output="last" the earlier chunks only carry the state
        forward and the update is made on the last chunk. Returns (mean loss over the batch's steps,
        gradient norms of the updates, how many of them were clipped).
        """
        chunks = self._time_chunks(x.shape[0])
        loss_sum, norms, n_clipped = 0.0, [], 0
        for k, chunk in enumerate(chunks):
            x_chunk = x[chunk]
            if k > 0:
                states = self.network_.final_states()
            if self.output == "last" and k < len(chunks) - 1:
                self.network_.forward(x_chunk, states, lengths, train=False)
                continue
            loss, norm, clipped = self._train_step(x_chunk, targets if self.output == "last" else targets[chunk],
                                                   states, last_good, lengths)
            loss_sum += loss * (1 if self.output == "last" else chunk.stop - chunk.start)
            norms.append(norm)
            n_clipped += clipped
        return loss_sum / (1 if self.output == "last" else x.shape[0]), norms, n_clipped

    def _train_step(self, x, targets, states, last_good, lengths=None):
        """One mini-batch: forward, loss, BPTT, clipping, update, on the network's device.

        ``lengths``: the batch's lengths, sorted in decreasing order (None: all steps).

        The loss is computed on the host from the outputs (a small copy); before the update, the
        current weights (which gave this finite loss) are copied into ``last_good``. Returns (loss,
        gradient norm before clipping, whether it was clipped).
        """
        network = self.network_
        backend = network.backend
        outputs = backend.to_host(network.forward(x, states, lengths))
        loss, d_outputs = self._loss(outputs, targets, self._step_weights(lengths, x.shape[0]))
        return self._gradient_step(
            loss, x.shape[1], lambda: network.backward(backend.asarray(d_outputs, network.dtype)), last_good)

    def _gradient_step(self, loss, n, backward, last_good):
        """The end of every training step, after the forward pass and the loss of ``n`` samples.

        Adds the L2 term, stops on a non-finite loss (before ``backward()`` fills ``network_.grad``)
        or gradient (putting back the weights in ``last_good``), clips, keeps the current weights in
        ``last_good`` and lets the optimizer update.
        Returns (loss, gradient norm before clipping, whether it was clipped).
        """
        network = self.network_
        backend = network.backend
        if self.alpha:
            loss += 0.5 * self.alpha * network.weight_sum_squares() / n
        if not np.isfinite(loss):
            self._diverged(loss, last_good)
        backward()
        grad = network.grad
        if self.alpha:
            backend.masked_axpy(grad, network.active_params, network.weight_mask, self.alpha / n)
        norm = float(np.sqrt(backend.sum_squares(grad)))
        if not np.isfinite(norm):
            self._diverged(norm, last_good, what="gradient norm")
        clipped = self.clip_grad_norm is not None and norm > self.clip_grad_norm
        if clipped:
            backend.scale(grad, self.clip_grad_norm / norm)
        backend.assign(last_good, network.active_params)
        self._optimizer.step([network.active_params], [grad])
        return loss, norm, clipped

    def _diverged(self, value, last_good, what="loss"):
        """Put back the weights that gave the last finite loss (on the device and the host) and stop."""
        network = self.network_
        network.backend.assign(network.active_params, last_good)
        network.sync_to_host()
        raise TrainingDivergedError(
            f"Training diverged at epoch {self.n_iter_ + 1}: the {what} became {value}. The last weights "
            f"that gave a finite loss are kept. Lower learning_rate_init, keep clip_grad_norm on, or "
            f"scale the inputs and targets.")


@functools.lru_cache(maxsize=None)
def _init_parameter_names(cls):
    """Sorted names of ``cls.__init__``'s parameters, read once per class (``inspect.signature``
    takes ~40 us, paid at every ``fit`` and ``partial_fit`` call by the parameter checks)."""
    return tuple(sorted(name for name in inspect.signature(cls.__init__).parameters if name != "self"))
