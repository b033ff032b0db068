"""Losses: value and gradient with respect to the model's raw outputs, averaged over samples.

Each function takes predictions and targets of the same leading shape and returns
``(loss, d_pred)``; ``weights`` (optional, broadcast against the targets' leading axes) mask out
entries that carry no loss, such as padded steps. The averages are over the weighted entries.
"""

import numpy as np

__all__ = ["squared_error", "softmax_cross_entropy", "binary_cross_entropy", "log_softmax", "log_sigmoid"]


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


def log_softmax(logits):
    """Numerically stable log of the softmax over the last axis."""
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def log_sigmoid(logits):
    """Numerically stable ``log(1 / (1 + exp(-z)))``."""
    return -np.logaddexp(0.0, -logits)


def softmax_cross_entropy(logits, labels, weights=None):
    """Mean cross-entropy of a softmax over the last axis against integer class labels.

    Parameters
    ----------
    logits : (n, ..., n_classes) array
        Raw scores.
    labels : (n, ...) integer array
        Class indices in ``[0, n_classes)``.
    weights : (n, ...) array, optional
        Per-entry weights (0 excludes an entry).

    Returns
    -------
    loss : float
    d_logits : array like ``logits``
        ``(softmax(logits) - onehot(labels)) * weights / n``.
    """
    log_p = log_softmax(logits)
    picked = np.take_along_axis(log_p, labels[..., np.newaxis], axis=-1)[..., 0]
    grad = np.exp(log_p)
    np.put_along_axis(grad, labels[..., np.newaxis],
                      np.take_along_axis(grad, labels[..., np.newaxis], axis=-1) - 1.0, axis=-1)
    n = _normalizer(weights, labels.size)
    if weights is not None:
        picked = picked * weights
        grad *= weights[..., np.newaxis]
    return -float(np.sum(picked)) / n, grad / n


def binary_cross_entropy(logits, targets, weights=None):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 0/1 targets.

    Parameters
    ----------
    logits : (n, ..., 1) array
        Raw scores of the positive class.
    targets : (n, ...) array of 0 and 1
    weights : (n, ...) array, optional
        Per-entry weights (0 excludes an entry).

    Returns
    -------
    loss : float
    d_logits : array like ``logits``
        ``(sigmoid(logits) - targets) * weights / n``.
    """
    z = logits[..., 0]
    per_entry = -(targets * log_sigmoid(z) + (1.0 - targets) * log_sigmoid(-z))
    grad = np.exp(log_sigmoid(z)) - targets
    n = _normalizer(weights, targets.size)
    if weights is not None:
        per_entry = per_entry * weights
        grad = grad * weights
    return float(np.sum(per_entry)) / n, (grad / n)[..., np.newaxis].astype(logits.dtype, copy=False)
