"""The loss of the best constant prediction: what a model that learned nothing from its inputs scores.

In the units of the training losses of :mod:`fastrnn.losses` (averaged over the weighted entries,
summed over outputs), so that an estimator's training loss can be compared with it: a fit whose loss
is not clearly below it has learned (almost) nothing, and the stopping rule measures ``tol`` in it.
"""

import numpy as np


def _rows(targets, weights):
    """Targets as (entries, n_outputs) float64 rows and their (entries,) weights."""
    values = np.asarray(targets, np.float64).reshape(-1, np.shape(targets)[-1])
    w = np.ones(values.shape[0]) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    return values, w


def squared_error_of_constant(targets, constant, weights=None):
    """Half mean squared error of predicting ``constant`` (n_outputs,) for every entry of ``targets``
    ``(n, ..., n_outputs)`` (``weights``: (n, ...), 0 excludes an entry)."""
    values, w = _rows(targets, weights)
    total = w.sum()
    if total <= 0:
        return 0.0
    return float(0.5 * np.sum(w @ (values - np.asarray(constant, np.float64)) ** 2) / total)


def squared_error_baseline(targets, weights=None, reference=None):
    """Half mean squared error of predicting the (weighted) mean of every output.

    Parameters
    ----------
    targets : (n, ..., n_outputs) array
        Real targets.
    weights : (n, ...) array, optional
        Per-entry weights over the leading axes (0 excludes an entry, such as a padded step).
    reference : tuple (targets, weights), optional
        Take the mean from these instead (the training targets, to score a held-out set).

    Returns
    -------
    float
        ``0.5 * sum over outputs of the weighted variance``; exactly 0 when every weighted target of
        each output is the same (a constant prediction is then exact, whatever the rounding of the mean).
    """
    ref_values, ref_w = _rows(*(reference if reference is not None else (targets, weights)))
    total = ref_w.sum()
    if total <= 0:
        return 0.0
    mean = ref_w @ ref_values / total
    if reference is None and np.all(np.ptp(ref_values[ref_w > 0], axis=0) == 0):
        return 0.0
    return squared_error_of_constant(targets, mean, weights)


def cross_entropy_baseline(labels, n_classes, weights=None, reference=None):
    """Cross-entropy of predicting the (weighted) class frequencies: their entropy, in nats.

    Parameters
    ----------
    labels : (n, ...) integer array
        Class indices in ``[0, n_classes)`` (0/1 for a binary problem).
    n_classes : int
    weights : (n, ...) array, optional
        Per-entry weights (0 excludes an entry).
    reference : tuple (labels, weights), optional
        Take the frequencies from these instead (the training labels, to score a held-out set; a
        class they lack counts as having probability 1e-12).

    Returns
    -------
    float
        ``-sum_k q_k log p_k`` over the weighted frequencies ``q`` of ``labels`` and ``p`` of the
        reference (``-sum_k p_k log p_k`` without one).
    """
    def frequencies(codes, w):
        counts = np.bincount(np.asarray(codes).reshape(-1).astype(np.int64),
                             weights=None if w is None else np.asarray(w, np.float64).reshape(-1),
                             minlength=n_classes)
        total = counts.sum()
        return counts / total if total > 0 else counts

    q = frequencies(labels, weights)
    p = q if reference is None else frequencies(*reference)
    present = q > 0
    return float(-np.sum(q[present] * np.log(np.maximum(p[present], 1e-12))))
