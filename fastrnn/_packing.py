"""Variable-length batches: the order, step counts and time-reversal indices the kernels work with.

The kernels need the sequences of a batch sorted by decreasing length, so that the sequences still
running at step ``t`` are the leading ``n_active[t]`` rows (PyTorch packs sequences the same way).
The layers sort once on the way in and undo the order on the way out; these helpers compute what
that takes. Every array here is a small host array of int64.
"""

import numpy as np


def full_lengths(n_samples, n_steps):
    """Lengths of a batch whose sequences all have ``n_steps`` steps."""
    return np.full(n_samples, n_steps, dtype=np.int64)


def sort_by_length(lengths):
    """Order that sorts sequences by decreasing length (stable: equal lengths keep their order).

    Returns
    -------
    order : (B,) int64 array
        ``sorted = original[order]``.
    inverse : (B,) int64 array
        ``original = sorted[inverse]``.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return order.astype(np.int64), inverse.astype(np.int64)


def active_counts(sorted_lengths, n_steps):
    """``n_active[t]``: how many of the (decreasingly sorted) sequences are running at step t.

    Returns a (n_steps,) int64 array, non-increasing.
    """
    steps = np.arange(n_steps)
    return (np.asarray(sorted_lengths)[None, :] > steps[:, None]).sum(axis=1).astype(np.int64)


def reversal_index(lengths, n_steps):
    """Time index that reverses each sequence within its own length.

    ``index[t, b] = lengths[b] - 1 - t`` for ``t < lengths[b]`` and ``t`` on the padded steps, so
    gathering ``x[index[t, b], b]`` reverses the valid part of every sequence and leaves the padding
    where it is. The map is its own inverse.

    Returns a (n_steps, B) int64 array.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    steps = np.arange(n_steps, dtype=np.int64)[:, None]
    return np.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)


def identity_index(n_steps, n_batch):
    """``index[t, b] = t``: a gather that copies (used to place one direction's features)."""
    return np.repeat(np.arange(n_steps, dtype=np.int64)[:, None], n_batch, axis=1)


def padding_mask(lengths, n_steps):
    """(n_steps, B) boolean array, True on the steps past each sequence's length."""
    return np.arange(n_steps)[:, None] >= np.asarray(lengths)[None, :]
