"""Turning series into supervised sequence data, and splitting it by time.

- :func:`make_windows`: a series of shape (n_steps,) or (n_steps, n_features) becomes windows
  ``X: (n_windows, window, n_features)`` and the values that follow them, ``y``.
- :func:`time_split`: split arrays into a leading training part and a trailing test part, never
  shuffling across the split (the future is not used to predict the past).
- :func:`pad_sequences`: sequences of different lengths become one zero-padded batch and their
  lengths, which the layers take as ``lengths=`` (the estimators accept the list directly).
"""

import numbers

import numpy as np

from ._validation import as_real_array, check_finite, check_positive_int

__all__ = ["make_windows", "time_split", "pad_sequences"]


def make_windows(series, window, horizon=1, stride=1, targets=None):
    """Cut a series into input windows and the values that follow each window.

    Window ``i`` covers steps ``[i*stride, i*stride + window)`` and its target the next ``horizon``
    steps ``[i*stride + window, i*stride + window + horizon)``.

    Parameters
    ----------
    series : array-like, (n_steps,) or (n_steps, n_features)
        The series, oldest first.
    window : int
        Input length (time steps per sample).
    horizon : int, default 1
        Number of future steps to predict.
    stride : int, default 1
        Steps between the starts of consecutive windows.
    targets : int or sequence of int, optional
        Feature columns to predict (default: all).

    Returns
    -------
    X : (n_windows, window, n_features) ndarray
    y : ndarray
        The ``horizon`` next values of the target columns, flattened step by step:
        (n_windows, horizon * n_targets), or (n_windows,) when that is 1.

    Examples
    --------
    >>> X, y = make_windows(np.arange(6.0), window=3)
    >>> X[:, :, 0]
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])
    >>> y
    array([3., 4., 5.])
    """
    values = as_real_array(series, "series", np.float64)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    if values.ndim != 2:
        raise ValueError(f"series must be 1-D (n_steps,) or 2-D (n_steps, n_features); got shape {values.shape}.")
    check_finite(values, "series")
    window = check_positive_int(window, "window")
    horizon = check_positive_int(horizon, "horizon")
    stride = check_positive_int(stride, "stride")
    n_steps, n_features = values.shape
    if targets is None:
        columns = np.arange(n_features)
    else:
        columns = np.atleast_1d(np.asarray(targets))
        if columns.dtype.kind not in "iu" or columns.ndim != 1 or np.any(columns < 0) or np.any(columns >= n_features):
            raise ValueError(f"targets must be column indices in [0, {n_features}); got {targets!r}.")
    n_windows = (n_steps - window - horizon) // stride + 1
    if n_windows < 1:
        raise ValueError(f"series has {n_steps} steps, too few for window={window} and horizon={horizon} "
                         f"(at least {window + horizon} are needed).")
    starts = np.arange(n_windows) * stride
    X = values[starts[:, None] + np.arange(window)]
    y = values[(starts + window)[:, None] + np.arange(horizon)][:, :, columns]
    y = y.reshape(n_windows, -1)
    return X, (y[:, 0] if y.shape[1] == 1 else y)


def time_split(*arrays, test_size=0.25, gap=0):
    """Split arrays along their first axis into a leading train part and a trailing test part.

    Parameters
    ----------
    *arrays : array-likes with the same first dimension
        For example ``X, y`` from :func:`make_windows`, or a raw series.
    test_size : float in (0, 1) or int, default 0.25
        Share (float) or number (int) of trailing samples in the test part.
    gap : int, default 0
        Samples dropped between the two parts. With overlapping windows and ``horizon > 1``, a gap
        of ``horizon - 1`` keeps training targets out of the test period.

    Returns
    -------
    list
        ``train_0, test_0, train_1, test_1, ...`` as numpy arrays, in time order.
    """
    if not arrays:
        raise ValueError("time_split needs at least one array.")
    converted = [np.asarray(a) for a in arrays]
    n = converted[0].shape[0] if converted[0].ndim else 0
    for a in converted[1:]:
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"all arrays must have the same length; got {[np.shape(b) for b in arrays]}.")
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0 < test_size < 1:
        n_test = int(np.ceil(test_size * n))
    else:
        raise ValueError(f"test_size must be a float in (0, 1) or an integer; got {test_size!r}.")
    if not isinstance(gap, numbers.Integral) or gap < 0:
        raise ValueError(f"gap must be an integer >= 0; got {gap!r}.")
    n_train = n - n_test - gap
    if n_test < 1 or n_train < 1:
        raise ValueError(f"cannot split {n} samples into a test part of {n_test}, a gap of {gap} and a "
                         f"non-empty training part.")
    result = []
    for a in converted:
        result += [a[:n_train], a[n_train + gap:]]
    return result


def is_ragged(X):
    """True when ``X`` is a list or tuple of sequences whose numbers of steps differ."""
    if not isinstance(X, (list, tuple)) or len(X) < 2:
        return False
    steps = set()
    for item in X:
        shape = np.shape(item) if not isinstance(item, (list, tuple)) or len(item) == 0 or \
            not isinstance(item[0], (list, tuple)) else (len(item),)
        if len(shape) == 0:
            return False
        steps.add(shape[0])
    return len(steps) > 1


def pad_sequences(sequences, dtype=np.float64, value=0.0, name="sequences"):
    """Stack sequences of different lengths into one batch, padded at the end.

    Parameters
    ----------
    sequences : list of array-like
        Each ``(n_steps_i,)`` (univariate) or ``(n_steps_i, n_features)``, with at least one step;
        all with the same number of features.
    dtype : numpy float type, default float64
    value : float, default 0.0
        What fills the padding (the layers and estimators ignore it whatever it is).
    name : str
        Name of the argument in error messages.

    Returns
    -------
    X : (n_samples, max_steps) or (n_samples, max_steps, n_features) ndarray
        2-D when every sequence was 1-D.
    lengths : (n_samples,) int64 ndarray

    Examples
    --------
    >>> X, lengths = pad_sequences([[1.0, 2.0, 3.0], [4.0]])
    >>> X.tolist(), lengths.tolist()
    ([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]], [3, 1])
    """
    if not isinstance(sequences, (list, tuple)) or len(sequences) == 0:
        raise ValueError(f"{name} must be a non-empty list of sequences, got {type(sequences).__name__}.")
    arrays = [as_real_array(item, f"{name}[{i}]", dtype) for i, item in enumerate(sequences)]
    for i, array in enumerate(arrays):
        if array.ndim not in (1, 2) or array.shape[0] == 0:
            raise ValueError(f"{name}[{i}] must be a sequence of shape (n_steps,) or (n_steps, n_features) "
                             f"with at least one step; got shape {array.shape}.")
        check_finite(array, f"{name}[{i}]")
    univariate = all(array.ndim == 1 for array in arrays)
    arrays = [array.reshape(array.shape[0], -1) for array in arrays]
    n_features = arrays[0].shape[1]
    for i, array in enumerate(arrays):
        if array.shape[1] != n_features:
            raise ValueError(f"every sequence in {name} needs the same number of features; {name}[0] has "
                             f"{n_features} and {name}[{i}] has {array.shape[1]}.")
    lengths = np.array([array.shape[0] for array in arrays], dtype=np.int64)
    X = np.full((len(arrays), int(lengths.max()), n_features), value, dtype=dtype)
    for i, array in enumerate(arrays):
        X[i, :array.shape[0]] = array
    return (X[:, :, 0] if univariate else X), lengths
