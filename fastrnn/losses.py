"""Losses: value and gradient with respect to the model's raw outputs, averaged over samples.

Each function takes predictions and targets of the same leading shape and returns
``(loss, d_pred)``; ``weights`` (optional, broadcast against the targets' leading axes) mask out
entries that carry no loss, such as padded steps. The averages are over the weighted entries.
"""

import numpy as np

__all__ = ["squared_error"]


def _normalizer(weights, n_entries):
    if weights is None:
        return float(n_entries)
    return max(float(np.sum(weights)), 1.0)


def squared_error(y_pred, y_true, weights=None):
    """Half mean squared error ``0.5 * mean((y_pred - y_true)**2)`` (scikit-learn's MLP convention).

    Parameters
    ----------
    y_pred, y_true : (n, ..., n_outputs) arrays
        Predictions and targets of the same shape.
    weights : (n, ...) array, optional
        Per-entry weights over the leading axes (0 excludes an entry).

    Returns
    -------
    loss : float
        Summed over outputs, averaged over entries.
    d_pred : array like ``y_pred``
        Gradient of ``loss`` with respect to ``y_pred``.
    """
    diff = y_pred - y_true
    if weights is not None:
        diff = diff * weights[..., np.newaxis]
    n = _normalizer(weights, diff.size // diff.shape[-1])
    loss = 0.5 * float(np.sum(diff * diff)) / n
    return loss, diff / n
