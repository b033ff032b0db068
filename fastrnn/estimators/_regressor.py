"""RNNRegressor: recurrent regression and forecasting with a scikit-learn interface."""

import numpy as np

from .._validation import as_real_array, check_finite, check_positive_int
from ._base import BaseRNNEstimator, per_sequence
from ._baseline import squared_error_baseline


def r2_score(y_true, y_pred):
    """Coefficient of determination averaged uniformly over outputs (scikit-learn's definition).

    ``y_true``, ``y_pred``: (n_samples, n_outputs). An output with constant ``y_true`` scores 1.0
    when predicted exactly and 0.0 otherwise.
    """
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    residual = np.sum((y_true - y_pred) ** 2, axis=0)
    total = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0),
                      np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))


class RNNRegressor(BaseRNNEstimator):
    """Recurrent neural network regressor: one value per sequence, or one per time step.

    A stack of Elman RNN, LSTM or GRU layers (``hidden_sizes``) followed by a linear output layer, trained
    by backpropagation through time on the half mean squared error, like scikit-learn's
    ``MLPRegressor`` for sequences. Inputs and targets are not rescaled: standardize them first.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}, default "lstm"
        Recurrent cell.
    hidden_sizes : tuple of int, default (64,)
        Units of each stacked recurrent layer.
    nonlinearity : {"tanh", "relu"}, default "tanh"
        Activation of the Elman cell (``cell="rnn"``).
    output : {"last", "sequence"}, default "last"
        "last": many-to-one, one prediction per sequence from the last hidden state; "sequence":
        many-to-many, one prediction per time step.
    bidirectional : bool, default False
        Bidirectional recurrent layers: each also reads the sequences backwards, and both
        directions' states feed the next layer; with output="last" the head reads the forward
        direction's final state and the reverse direction's state at the first step.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the kernels run: "auto" is a usable GPU (numba-cuda installed) when a recurrent layer
        has at least 768 gate units (gates x hidden size: an LSTM from 192 units, a GRU from 256, an
        Elman RNN from 768; smaller networks run faster on the CPU), else the CPU; "cuda" without a
        usable GPU raises. Resolved at fit and predict time, so a model fitted on a GPU predicts on
        a CPU-only machine (set device="cpu" or leave "auto").
    dtype : {"float32", "float64"}, default "float32"
        Precision of the weights and computations.
    solver : {"adam", "sgd", "adagrad"}, default "adam"
        Optimizer.
    learning_rate_init : float, default 0.001
        Step size.
    batch_size : int or "auto", default "auto"
        Mini-batch size; "auto" is ``min(32, n_samples)``.
    max_iter : int, default 200
        Maximum number of epochs (passes over the data).
    bptt_steps : int or None, default None
        Truncated backpropagation through time: train each mini-batch in chunks of this many steps,
        in time order, each chunk starting from the previous one's final state (carried forward,
        not backpropagated through). With output="sequence" each chunk makes its own update (a long
        series trains in memory bounded by the chunk); with output="last" the update is made on the
        last chunk. Prediction also runs in chunks (exactly the same result, bounded memory). None:
        full BPTT over all steps. Needs unidirectional layers and sequences of equal length.
    shuffle : bool, default True
        Shuffle the samples every epoch. With ``early_stopping``, ``shuffle=False`` also holds out the
        *last* samples for validation (time order is kept) instead of a random subset.
    alpha : float, default 0.0001
        L2 penalty on the weight matrices (not the biases), scaled as in scikit-learn.
    clip_grad_norm : float or None, default 1.0
        Largest allowed global norm of the gradient of a mini-batch; larger gradients are scaled
        down to it (the classic remedy for exploding gradients). None turns clipping off.
    tol : float, default 1e-4
        An epoch improves when its training loss drops by more than ``tol * baseline_loss_`` below
        the best so far (a fraction of the constant prediction's loss, so it does not depend on the
        targets' units); with ``early_stopping``, when the validation score rises by more than ``tol``.
    n_iter_no_change : int, default 10
        Training stops after more than this many epochs in a row without improvement that together
        made at least ``10 * n_iter_no_change`` updates, counted from the first epoch whose best
        training loss is more than 5 % below ``baseline_loss_``: a recurrent network's loss often
        stays on such a plateau for many updates before it falls, and only ``max_iter`` ends a fit
        that never leaves it, with a ``ConvergenceWarning``.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data, stop when its score stops improving and
        restore the weights with the best validation score.
    validation_fraction : float, default 0.1
        Share of the data held out for early stopping.
    momentum : float, default 0.9
        Momentum of ``solver="sgd"``.
    nesterovs_momentum : bool, default True
        Nesterov momentum for ``solver="sgd"``.
    beta_1, beta_2, epsilon : floats, defaults 0.9, 0.999, 1e-8
        Adam's parameters.
    random_state : None, int, numpy RandomState or Generator
        Seeds the weights, the shuffling and the validation split. With an int, two fits on the
        same data give bit-identical weights on the CPU with the same number of Numba threads (their
        split of the gradient's sums over the batch changes the rounding).
    warm_start : bool, default False
        ``fit`` continues from the previous solution instead of re-initializing (with a fresh
        optimizer, as scikit-learn does; ``partial_fit`` keeps the optimizer's state).
    verbose : bool or int, default False
        Print a progress bar with the running loss (off a terminal, a line about every 5 % of the
        epochs; ``verbose >= 2``: one line per epoch).

    Attributes
    ----------
    loss_curve_ : list of float
        Training loss (half MSE plus the L2 term) per epoch.
    best_loss_ : float or None
        Lowest training loss (None with ``early_stopping``).
    baseline_loss_ : float
        Training loss of the best constant prediction (each output's mean): the scale of ``tol``,
        and the level a fit must clearly go below, or a ``ConvergenceWarning`` says that it learned
        (almost) nothing.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch (with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation R² per epoch (with ``early_stopping``).
    best_validation_score_ : float or None
        Best validation R² (with ``early_stopping``).
    grad_norm_curve_ : list of float
        Mean gradient norm per epoch, before clipping.
    clipped_fraction_curve_ : list of float
        Fraction of the mini-batch steps of each epoch whose gradient was clipped.
    n_iter_ : int
        Epochs run.
    t_ : int
        Training samples seen.
    n_features_in_ : int
        Features per time step.
    n_outputs_ : int
        Outputs per prediction.
    network_ : fastrnn._network.SequenceNetwork
        The trained model: ``network_.layers`` (fastrnn.RNN / fastrnn.LSTM / fastrnn.GRU layers with PyTorch
        parameter names) and ``network_.head`` (fastrnn.Linear).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 10, 2))
    >>> y = X[:, :, 0].sum(axis=1)
    >>> model = RNNRegressor(hidden_sizes=(16,), max_iter=5, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model.predict(X).shape  # doctest: +SKIP
    (64,)
    """

    def fit(self, X, y, initial_state=None):
        """Train on sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps), or list
            Sequences; a 2-D X is a batch of univariate series. Nested lists are accepted. X may
            also be a list of sequences of different lengths, each (n_steps_i,) or (n_steps_i,
            n_features): each is then read to its own end (the same in predict and score). With
            output="sequence", y is then a list of per-step targets of the same lengths, the loss
            ignores the padding, and predict returns one array per sequence.
        y : array-like
            output="last": (n_samples,) or (n_samples, n_outputs). output="sequence":
            (n_samples, n_timesteps) or (n_samples, n_timesteps, n_outputs).
        initial_state : list, optional
            One entry per recurrent layer: h0 of shape (n_samples, H_k), for LSTM a pair (h0, c0).
            Default zeros.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, initial_state=initial_state)

    def partial_fit(self, X, y, initial_state=None):
        """One epoch over ``X, y``, continuing from the current weights and optimizer state.

        Parameters
        ----------
        X, y, initial_state :
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True, initial_state=initial_state)

    def predict(self, X, initial_state=None):
        """Predict targets.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
            The number of time steps may differ from training.
        initial_state : list, optional
            As in :meth:`fit`.

        Returns
        -------
        float64 ndarray (computed in ``dtype``)
            output="last": (n_samples,) when there is one output, else (n_samples, n_outputs).
            output="sequence": (n_samples, n_timesteps) or (n_samples, n_timesteps, n_outputs).
        """
        self._check_is_fitted()
        X, lengths = self._check_X(X, reset=False)
        out = self._raw_outputs(X, initial_state, lengths=lengths).astype(np.float64)
        return per_sequence(out[..., 0] if self.n_outputs_ == 1 else out, lengths, self.output)

    def score(self, X, y):
        """R² of the predictions (averaged uniformly over outputs; over all steps for sequences).

        Parameters
        ----------
        X : array-like
            Sequences.
        y : array-like
            True targets, shaped as for :meth:`fit`.

        Returns
        -------
        float
        """
        self._check_is_fitted()
        X3, lengths = self._check_X(X, reset=False)
        targets = self._encode_targets(self._pad_targets(y, lengths, X3.shape[1]), X3, reset=False, classes=None)
        weights = self._step_weights(lengths, X3.shape[1])
        return self._score_outputs(self._raw_outputs(X3, lengths=lengths), targets,
                                   None if weights is None else weights.T > 0)

    def forecast(self, X, steps):
        """Forecast ``steps`` future values autoregressively, feeding each prediction back as input.

        For models whose outputs are the next step of their inputs (``n_outputs_ ==
        n_features_in_``, as from :func:`fastrnn.data.make_windows` with ``horizon=1``). The window
        slides: each step drops the oldest input, so the model always sees as many steps as in ``X``.
        With output="sequence" the last step's prediction is used.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
            The most recent window of each series.
        steps : int
            Number of future steps.

        Returns
        -------
        ndarray
            (n_samples, steps) for univariate series, else (n_samples, steps, n_features).
        """
        self._check_is_fitted()
        steps = check_positive_int(steps, "steps")
        if self.n_outputs_ != self.n_features_in_:
            raise ValueError(
                f"forecast() feeds predictions back as inputs, so it needs n_outputs_ == n_features_in_; "
                f"this model has n_outputs_={self.n_outputs_} and n_features_in_={self.n_features_in_}.")
        window, lengths = self._check_X(X, reset=False)
        if lengths is not None:
            raise ValueError("forecast() slides one window per series: pass windows of equal length.")
        window = window.copy()
        predictions = np.empty((window.shape[0], steps, self.n_features_in_), dtype=window.dtype)
        for step in range(steps):
            out = self._raw_outputs(window)
            next_value = out if self.output == "last" else out[:, -1]
            predictions[:, step] = next_value
            window = np.concatenate([window[:, 1:], next_value[:, np.newaxis]], axis=1)
        predictions = predictions.astype(np.float64)
        return predictions[..., 0] if self.n_features_in_ == 1 else predictions

    # ------------------------------------------------------------------ hooks of the base class
    def _encode_targets(self, y, X, reset, classes):
        _check_y_not_none(y, type(self).__name__)
        y = as_real_array(y, "y", self._float_type)
        n_samples, n_steps = X.shape[:2]
        base_ndim = 1 if self.output == "last" else 2
        expected = "(n_samples,) or (n_samples, n_outputs)" if self.output == "last" else \
            "(n_samples, n_timesteps) or (n_samples, n_timesteps, n_outputs)"
        if y.ndim not in (base_ndim, base_ndim + 1):
            raise ValueError(f"y must have shape {expected} for output={self.output!r}; got shape {y.shape}.")
        if y.shape[0] != n_samples:
            raise ValueError(f"X and y have inconsistent numbers of samples: {n_samples} and {y.shape[0]}.")
        if self.output == "sequence" and y.shape[1] != n_steps:
            raise ValueError(f"y has {y.shape[1]} time steps but X has {n_steps}; with output='sequence' "
                             f"there is one target per step.")
        check_finite(y, "y")
        targets = y.reshape(y.shape[:base_ndim] + (-1,))
        if reset:
            self.n_outputs_ = targets.shape[-1]
        elif targets.shape[-1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[-1]} outputs, but {type(self).__name__} was fitted with "
                             f"n_outputs_={self.n_outputs_}.")
        return targets

    def _n_network_outputs(self):
        return self.n_outputs_

    _baseline_description = "predicting the mean of the targets"

    def _baseline_loss(self, targets, weights, reference=None):
        """Half mean squared error of predicting each output's mean (batch-first ``targets``; the mean
        of the ``reference`` targets and weights when given)."""
        return squared_error_baseline(targets, weights, reference)

    def _loss(self, backend, outputs, targets, weights=None):
        """Half mean squared error and its gradient, computed on ``backend`` (where ``outputs`` are)."""
        return backend.squared_error(outputs, targets, weights)

    def _score_outputs(self, outputs, targets, mask=None):
        """R² for batch-first outputs and targets (over the steps where ``mask`` is True, if given)."""
        if mask is not None:
            outputs, targets = outputs[mask], targets[mask]
        return r2_score(targets.reshape(-1, self.n_outputs_), outputs.reshape(-1, self.n_outputs_))

    def __sklearn_tags__(self):
        tags = self._base_tags()
        tags.estimator_type = "regressor"
        from sklearn.utils import RegressorTags

        tags.regressor_tags = RegressorTags()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _check_y_not_none(y, name):
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
