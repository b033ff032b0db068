"""The loss of the best constant prediction: what a model that learned nothing from its inputs scores.

In the units of the training losses of :mod:`fastrnn.losses` (averaged over the weighted entries,
summed over outputs), so that an estimator's training loss can be compared with it: a fit whose loss
is not clearly below it has learned (almost) nothing, and the stopping rule measures ``tol`` in it.
"""

import numpy as np


def squared_error_baseline(targets, weights=None):
    """Half mean squared error of predicting the (weighted) mean of every output.

    Parameters
    ----------
    targets : (n, ..., n_outputs) array
        Real targets.
    weights : (n, ...) array, optional
        Per-entry weights over the leading axes (0 excludes an entry, such as a padded step).

    Returns
    -------
    float
        ``0.5 * sum over outputs of the weighted variance`` (0 when every target is the same).
    """
    values = np.asarray(targets, np.float64).reshape(-1, np.shape(targets)[-1])
    w = np.ones(values.shape[0]) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    total = w.sum()
    if total <= 0:
        return 0.0
    mean = w @ values / total
    return float(0.5 * np.sum(w @ (values - mean) ** 2) / total)


def cross_entropy_baseline(labels, n_classes, weights=None):
    """Cross-entropy of predicting the (weighted) class frequencies: their entropy, in nats.

    Parameters
    ----------
    labels : (n, ...) integer array
        Class indices in ``[0, n_classes)`` (0/1 for a binary problem).
    n_classes : int
    weights : (n, ...) array, optional
        Per-entry weights (0 excludes an entry).

    Returns
    -------
    float
        ``-sum_k p_k log p_k`` over the classes' weighted frequencies ``p_k``.
    """
    codes = np.asarray(labels).reshape(-1).astype(np.int64)
    w = None if weights is None else np.asarray(weights, np.float64).reshape(-1)
    counts = np.bincount(codes, weights=w, minlength=n_classes)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-np.sum(p * np.log(p)))
