"""RNNClassifier: sequence classification (many-to-one) and tagging (many-to-many)."""

import warnings

import numpy as np

from .. import exceptions
from ..losses import log_sigmoid, log_softmax
from ._base import BaseRNNEstimator, per_sequence
from ._baseline import cross_entropy_baseline
from ._regressor import _check_y_not_none


class RNNClassifier(BaseRNNEstimator):
    """Recurrent neural network classifier: one label per sequence, or one per time step (tagging).

    A stack of Elman RNN, LSTM or GRU layers followed by a linear output layer: one logistic unit for two
    classes, a softmax over the classes otherwise, trained on the cross-entropy, like
    scikit-learn's ``MLPClassifier`` for sequences. Labels may be of any hashable type (strings too).

    Parameters
    ----------
    cell, hidden_sizes, nonlinearity, output, bidirectional, device, dtype, solver, learning_rate_init, batch_size,
    max_iter, bptt_steps, shuffle, alpha, clip_grad_norm, tol, n_iter_no_change, early_stopping,
    validation_fraction, momentum, nesterovs_momentum, beta_1, beta_2, epsilon, random_state,
    warm_start, verbose :
        As in :class:`fastrnn.RNNRegressor`. With ``early_stopping`` and ``shuffle``, the validation
        set is stratified by class (output="last"); the validation score is the accuracy.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted.
    loss_curve_, best_loss_, validation_loss_curve_, validation_scores_, best_validation_score_,
    grad_norm_curve_, clipped_fraction_curve_, n_iter_, t_, n_features_in_, network_ :
        As in :class:`fastrnn.RNNRegressor` (losses are cross-entropies, scores accuracies).
    baseline_loss_ : float
        Cross-entropy of predicting the class frequencies of the training labels (their entropy,
        ln 2 for two balanced classes), as in :class:`fastrnn.RNNRegressor`.
    n_outputs_ : int
        Output units: 1 for two classes, else the number of classes.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 10, 1))
    >>> y = np.where(X.sum(axis=(1, 2)) > 0, "up", "down")
    >>> clf = RNNClassifier(hidden_sizes=(16,), max_iter=5, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> clf.predict_proba(X).shape  # doctest: +SKIP
    (64, 2)
    """

    def fit(self, X, y, initial_state=None):
        """Train on sequences ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps), or list
            Sequences; a 2-D X is a batch of univariate series. X may also be a list of sequences
            of different lengths, as in :meth:`fastrnn.RNNRegressor.fit` (with output="sequence",
            y is then a list of per-step label sequences of the same lengths).
        y : array-like
            output="last": (n_samples,) labels. output="sequence": (n_samples, n_timesteps) labels,
            one per step.
        initial_state : list, optional
            One entry per recurrent layer: h0 (n_samples, H_k), for LSTM a pair (h0, c0).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, initial_state=initial_state)

    def partial_fit(self, X, y, classes=None, initial_state=None):
        """One epoch over ``X, y``, continuing from the current weights and optimizer state.

        Parameters
        ----------
        X, y, initial_state :
            As in :meth:`fit`.
        classes : array-like, optional
            All the labels that can occur; required on the first call.

        Returns
        -------
        self
        """
        if not self.__sklearn_is_fitted__() and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, initial_state=initial_state, classes=classes)

    def predict_proba(self, X, initial_state=None):
        """Class probabilities.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
        initial_state : list, optional

        Returns
        -------
        ndarray
            (n_samples, n_classes) for output="last", (n_samples, n_timesteps, n_classes) for
            output="sequence" (a list of (n_steps_i, n_classes) arrays when X held sequences of
            different lengths); columns follow ``classes_``.
        """
        log_proba = self.predict_log_proba(X, initial_state)
        if isinstance(log_proba, list):
            return [np.exp(rows) for rows in log_proba]
        return np.exp(log_proba)

    def decision_function(self, X, initial_state=None):
        """The logits of the output layer: what the probabilities are computed from.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps), or list
        initial_state : list, optional

        Returns
        -------
        float64 ndarray (computed in ``dtype``)
            Two classes: the logit of ``classes_[1]``, (n_samples,) or (n_samples, n_timesteps) for
            output="sequence" (scikit-learn's convention). More classes: one logit per class,
            (n_samples, n_classes) or (n_samples, n_timesteps, n_classes). A list of per-sequence
            arrays when X held sequences of different lengths and output="sequence".
        """
        logits, lengths = self._logits(X, initial_state)
        logits = logits[..., 0] if len(self.classes_) == 2 else logits
        return per_sequence(logits, lengths, self.output)

    def predict_log_proba(self, X, initial_state=None):
        """Logarithm of :meth:`predict_proba`, computed stably from the logits."""
        logits, lengths = self._logits(X, initial_state)
        if len(self.classes_) == 2:
            z = logits[..., 0]
            log_proba = np.stack([log_sigmoid(-z), log_sigmoid(z)], axis=-1)
        else:
            log_proba = log_softmax(logits)
        return per_sequence(log_proba, lengths, self.output)

    def _logits(self, X, initial_state):
        """Validated X's logits (float64, batch-first, padded) and its lengths (None unless ragged)."""
        self._check_is_fitted()
        X, lengths = self._check_X(X, reset=False)
        return self._raw_outputs(X, initial_state, lengths=lengths).astype(np.float64), lengths

    def predict(self, X, initial_state=None):
        """Most probable label: (n_samples,) or, for output="sequence", (n_samples, n_timesteps)
        (a list of per-sequence arrays when X held sequences of different lengths)."""
        log_proba = self.predict_log_proba(X, initial_state)
        if isinstance(log_proba, list):
            return [self.classes_[np.argmax(rows, axis=-1)] for rows in log_proba]
        return self.classes_[np.argmax(log_proba, axis=-1)]

    def score(self, X, y):
        """Accuracy (over all steps for output="sequence").

        Parameters
        ----------
        X : array-like
        y : array-like
            True labels, shaped as for :meth:`fit`.

        Returns
        -------
        float
        """
        y_pred = self.predict(X)
        if isinstance(y_pred, list):  # sequences of different lengths: every step of every sequence
            if not isinstance(y, (list, tuple)) or len(y) != len(y_pred):
                raise ValueError(f"y must be a list of {len(y_pred)} per-step label sequences.")
            for i, (labels, predicted) in enumerate(zip(y, y_pred)):
                if np.shape(labels) != predicted.shape:
                    raise ValueError(f"y[{i}] must have shape {predicted.shape}, got {np.shape(labels)}.")
            y, y_pred = np.concatenate([np.asarray(labels) for labels in y]), np.concatenate(y_pred)
        y = np.asarray(y)
        if y.ndim == y_pred.ndim + 1 and y.shape[-1] == 1:
            y = y[..., 0]
        if y.shape != y_pred.shape:
            raise ValueError(f"y must have shape {y_pred.shape}, got {y.shape}.")
        return float(np.mean(y == y_pred))

    # ------------------------------------------------------------------ hooks of the base class
    def _encode_targets(self, y, X, reset, classes):
        _check_y_not_none(y, type(self).__name__)
        y = np.asarray(y)
        n_samples, n_steps = X.shape[:2]
        base_ndim = 1 if self.output == "last" else 2
        if y.ndim == base_ndim + 1 and y.shape[-1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the "
                          "shape of y to (n_samples,), for example using ravel().", exceptions.DataConversionWarning)
            y = y[..., 0]
        if y.ndim != base_ndim:
            expected = "(n_samples,)" if self.output == "last" else "(n_samples, n_timesteps)"
            raise ValueError(f"y must hold labels of shape {expected} for output={self.output!r}; "
                             f"got shape {y.shape}.")
        if y.shape[0] != n_samples:
            raise ValueError(f"X and y have inconsistent numbers of samples: {n_samples} and {y.shape[0]}.")
        if self.output == "sequence" and y.shape[1] != n_steps:
            raise ValueError(f"y has {y.shape[1]} time steps but X has {n_steps}; with output='sequence' "
                             f"there is one label per step.")
        _check_label_type(y)
        if reset:
            found = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if self.__sklearn_is_fitted__() and self.warm_start and classes is None and \
                    not np.array_equal(found, self.classes_):
                raise ValueError(f"warm_start can only be used where y has the same classes as in the "
                                 f"previous call to fit: {self.classes_.tolist()} then {found.tolist()}.")
            if len(found) < 2:
                raise ValueError(f"RNNClassifier needs samples of at least 2 classes, but the data contain "
                                 f"only one class: {found.tolist()}.")
            self.classes_ = found
            self.n_outputs_ = self._n_network_outputs()
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if np.any(unknown):
            raise ValueError(f"y contains labels not seen in fit (classes_ = {self.classes_.tolist()}): "
                             f"{np.unique(y[unknown]).tolist()}.")
        if len(self.classes_) == 2:
            return index.astype(self._float_type)
        return index

    def _n_network_outputs(self):
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    _baseline_description = "predicting the class frequencies"

    def _baseline_loss(self, targets, weights, reference=None):
        """Cross-entropy of predicting the class frequencies (encoded batch-first ``targets``; the
        frequencies of the ``reference`` labels and weights when given)."""
        return cross_entropy_baseline(targets, len(self.classes_), weights, reference)

    def _loss(self, backend, outputs, targets, weights=None):
        """Cross-entropy and its gradient, computed on ``backend`` (where ``outputs`` are)."""
        if len(self.classes_) == 2:
            return backend.binary_cross_entropy(outputs, targets, weights)
        return backend.softmax_cross_entropy(outputs, targets, weights)

    def _score_outputs(self, outputs, targets, mask=None):
        """Accuracy for batch-first logits and encoded targets (over the steps where ``mask`` is True)."""
        if len(self.classes_) == 2:
            predicted = (outputs[..., 0] > 0).astype(targets.dtype)
        else:
            predicted = np.argmax(outputs, axis=-1)
        correct = predicted == targets
        return float(np.mean(correct if mask is None else correct[mask]))

    def _validation_indices(self, targets, rng):
        if self.output != "last":
            return super()._validation_indices(targets, rng)
        train, val = [], []
        for label in np.unique(targets):
            members = rng.permutation(np.flatnonzero(targets == label))
            n_val = min(int(round(self.validation_fraction * len(members))), len(members) - 1)
            val.append(members[:n_val])
            train.append(members[n_val:])
        train, val = np.concatenate(train), np.concatenate(val)
        if len(val) == 0:  # tiny data: hold out one sample of the largest class
            return super()._validation_indices(targets, rng)
        return rng.permutation(train), val

    def __sklearn_tags__(self):
        tags = self._base_tags()
        tags.estimator_type = "classifier"
        from sklearn.utils import ClassifierTags

        tags.classifier_tags = ClassifierTags(multi_class=True, multi_label=False)
        return tags


def _check_label_type(y):
    """Reject continuous targets and NaN labels with scikit-learn's wording."""
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity; labels must be finite.")
        if np.any(y != np.round(y)):
            raise ValueError("Unknown label type: continuous. RNNClassifier needs class labels "
                             "(integers, strings, ...); for real-valued targets use RNNRegressor.")
    elif y.dtype.kind == "O":
        try:
            np.unique(y)
        except TypeError:
            raise ValueError("y mixes labels of types that cannot be compared (for example strings and "
                             "numbers); use labels of one type.") from None
        if any(isinstance(v, float) and v != v for v in y.ravel()):
            raise ValueError("y contains NaN; labels must not be missing.")
    elif y.dtype.kind not in "biuUS":
        raise ValueError(f"Unknown label type: y has dtype {y.dtype}.")

