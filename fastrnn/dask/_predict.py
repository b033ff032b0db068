"""Prediction over a Dask collection of sequences: one task per chunk, one copy of the model per worker.

Rules, and why:

- The model is sent to each worker once, not once per chunk. With a distributed client it is
  scattered to every worker (``client.scatter(model, broadcast=True, hash=False)``) and the graph
  refers to that one future; with a local scheduler it is one key of the graph (a ``Delayed``) that
  every block depends on. Embedding the model in each task instead would serialize its weights as
  many times as there are chunks.
- The output's dtype and shape per sample come from a probe: the method called here on one sample
  of zeros, ``(1, T, D)`` or ``(1, T)``. Computing a chunk of X to learn them would read the data
  twice, and guessing them would be wrong for string labels or ``output="sequence"``.
- A Dask array is split along samples only: each task predicts whole sequences, so any chunking of
  the time or feature axes is merged first (those axes become one chunk each). The result is chunked
  like X along samples.
- Sequences of different lengths come as a bag (a list becomes one): each partition is predicted in
  one call, one batched forward pass, and gives one result per sequence, as the in-memory call does.
- Nothing of X is computed until the result is (the probe runs on zeros, here; only the model
  travels at the call), and neither the model nor X is modified: the result is a lazy collection.
"""

import uuid

import dask
import dask.array as da
import dask.bag as db
import distributed
import numpy as np
from dask.base import tokenize

from ..estimators import CharRNN, RNNClassifier, RNNRegressor, Seq2Seq
from ._shards import whole_sequences

DEFAULT_PARTITION_SIZE = 1024  # sequences per partition of a list X (one forward pass each)

_METHODS = {  # the prediction methods whose only required argument is X
    RNNRegressor: ("predict",),
    RNNClassifier: ("predict", "predict_proba", "predict_log_proba", "decision_function"),
    Seq2Seq: ("predict",),
}


def predict(model, X, method="predict", *, client=None, partition_size=None):
    """Predict with a fitted fastrnn estimator over a Dask collection of sequences, lazily.

    Parameters
    ----------
    model : RNNRegressor, RNNClassifier or Seq2Seq
        A fitted estimator; it is not modified. :class:`~fastrnn.CharRNN` generates text rather than
        predicting from inputs, and is refused.
    X : dask.array.Array, dask.bag.Bag, or list or tuple of array-like
        Array: sequences of equal length, ``(n_samples, n_timesteps, n_features)`` or
        ``(n_samples, n_timesteps)``, chunked along samples (chunks along the other axes are merged
        into one). Not for :class:`~fastrnn.Seq2Seq`, whose outputs differ in length. Bag: one
        sequence per element, each ``(n_steps_i, n_features)`` or ``(n_steps_i,)`` (a
        :class:`~fastrnn.Seq2Seq` input sequence), of any lengths. A list or tuple of such
        sequences becomes a bag of ``partition_size`` sequences per partition.
    method : {"predict", "predict_proba", "predict_log_proba", "decision_function"}, default "predict"
        The estimator's method to call; RNNRegressor and Seq2Seq have "predict" only.
    client : distributed.Client, None or False, default None
        Where the model is sent. A client: the model is scattered to its workers now (each worker
        gets one copy); compute the result with that client. None: the current distributed client
        if there is one and ``dask.config`` does not name another scheduler (such as
        ``dask.config.set(scheduler="threads")``), else as False. False: no scattering; the model
        is one key of the graph, for the local schedulers ("threads", "processes", "sync").
    partition_size : int, optional
        Sequences per partition when X is a list or tuple; default 1024 (each partition is one
        forward pass: larger partitions mean fewer tasks, more memory per task). Rechunk a Dask
        array, or repartition a bag, instead.

    Returns
    -------
    dask.array.Array or dask.bag.Bag
        Array X: a lazy array with the samples chunked as in X, each block
        ``getattr(model, method)(block)``: ``(n_samples,)``, ``(n_samples, n_outputs)``,
        ``(n_samples, n_timesteps[, n_outputs])`` etc., as the method returns. Bag or list X: a
        lazy bag with one element per sequence, in order, each equal to the corresponding element
        of ``getattr(model, method)(list_of_sequences)`` in memory.

    Raises
    ------
    TypeError
        ``model`` is not an RNNRegressor, RNNClassifier or Seq2Seq (CharRNN included); X is neither
        a Dask array, a bag nor a list or tuple; X is a Dask array and the model a Seq2Seq;
        ``client`` is not a client, None or False.
    NotFittedError
        ``model`` is not fitted.
    ValueError
        ``method`` is not one of the model's prediction methods; X's number of dimensions or
        features does not match the model; a list X is empty; ``partition_size`` is not a positive
        int, or is given with a Dask X; a numeric Seq2Seq whose training outputs differed in length
        (predict needs ``output_lengths``).

    Notes
    -----
    The inputs of a Dask array, and the sequences of a list, are checked now; the elements of a bag
    are checked by the model's own method when the result is computed. The result holds the
    scattered model: it stays on the workers as long as the result (or anything built on it) exists.

    Without a client, a bag computes with Dask's process pool by default, which pickles the model
    into every partition's task; ``compute(scheduler="threads")`` keeps one copy in memory.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastrnn.dask
    >>> from fastrnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5, 2))                    # (n_samples, n_timesteps, n_features)
    >>> y = X[:, :, 0].sum(axis=1)
    >>> model = RNNRegressor(hidden_sizes=(4,), max_iter=2, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> pred = fastrnn.dask.predict(model, da.from_array(X, chunks=(50, 5, 2)))  # doctest: +SKIP
    >>> pred.chunks  # doctest: +SKIP
    ((50, 50, 50, 50),)
    >>> np.allclose(pred.compute(), model.predict(X))  # doctest: +SKIP
    True
    >>> ragged = [rng.normal(size=(n, 2)) for n in (3, 7, 5)]  # sequences of different lengths
    >>> fastrnn.dask.predict(model, ragged).compute()  # doctest: +SKIP
    [np.float64(...), np.float64(...), np.float64(...)]
    """
    _check_model(model, method)
    if not isinstance(X, (da.Array, db.Bag, list, tuple)):
        raise TypeError(f"X must be a dask.array.Array, a dask.bag.Bag or a list of sequences; got "
                        f"{type(X).__name__}. For data in memory call model.{method}(X) directly, or wrap "
                        f"it with dask.array.from_array(X, chunks=...).")
    if partition_size is not None:
        if not isinstance(X, (list, tuple)):
            raise ValueError("partition_size applies to a list X; rechunk a Dask array or repartition a "
                             "bag instead.")
        if isinstance(partition_size, (bool, np.bool_)) or not isinstance(partition_size, (int, np.integer)) \
                or partition_size < 1:
            raise ValueError(f"partition_size must be a positive int, got {partition_size!r}.")
    if client is not None and client is not False and not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, None or False; got {type(client).__name__}.")
    if isinstance(X, da.Array):
        if isinstance(model, Seq2Seq):
            raise TypeError("Seq2Seq outputs sequences of their own lengths: pass X as a dask.bag.Bag or a "
                            "list of sequences, not a dask array.")
        X = _check_array(model, X)  # (n_samples, n_timesteps[, n_features]), one chunk per sample range
        probe = np.asarray(getattr(model, method)(np.zeros((1,) + X.shape[1:], dtype=X.dtype)))  # (1, ...)
        return _map_blocks(X, _send(model, client), method, probe)
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError("X is an empty list: there is nothing to predict.")
        if not isinstance(model, Seq2Seq):
            _check_sequences(model, X)
        X = db.from_sequence(X, partition_size=partition_size or DEFAULT_PARTITION_SIZE)
    return X.map_partitions(_predict_partition, _send(model, client), method)


def _check_model(model, method):
    """Check that ``model`` is a fitted estimator of a supported class and has ``method``."""
    if isinstance(model, CharRNN):
        raise TypeError("CharRNN generates text (CharRNN.sample) rather than predicting from inputs: "
                        "fastrnn.dask.predict takes an RNNRegressor, RNNClassifier or Seq2Seq.")
    methods = next((names for cls, names in _METHODS.items() if isinstance(model, cls)), None)
    if methods is None:
        raise TypeError(f"model must be a fitted fastrnn RNNRegressor, RNNClassifier or Seq2Seq; got "
                        f"{type(model).__name__}.")
    if method not in methods:
        raise ValueError(f"method={method!r} is not a prediction method of {type(model).__name__}; "
                         f"use one of {list(methods)}.")
    model._check_is_fitted()
    if isinstance(model, Seq2Seq) and model.output_vocabulary_ is None and model.output_length_ is None:
        raise ValueError("this Seq2Seq was fitted on numeric outputs of different lengths, so its predict "
                         "needs output_lengths, which fastrnn.dask.predict does not pass: call "
                         "model.predict on each partition yourself (dask.bag.Bag.map_partitions).")


def _check_array(model, X):
    """X ``(n, T[, D])`` checked against the model, with its time and feature axes in one chunk."""
    X = whole_sequences(X)
    n_features = X.shape[2] if X.ndim == 3 else 1
    if n_features != model.n_features_in_:
        raise ValueError(f"X has {n_features} features per time step (shape {X.shape}), but "
                         f"{type(model).__name__} was fitted with n_features_in_={model.n_features_in_}.")
    return X


def _check_sequences(model, X):
    """Each sequence of a list X is ``(n_steps_i, n_features)`` or ``(n_steps_i,)`` for the model."""
    for i, sequence in enumerate(X):
        shape = np.shape(sequence)
        if len(shape) not in (1, 2) or shape[0] == 0:
            raise ValueError(f"X[{i}] must be a sequence of shape (n_steps,) or (n_steps, n_features) with at "
                             f"least one step; got shape {shape}.")
        n_features = shape[1] if len(shape) == 2 else 1
        if n_features != model.n_features_in_:
            raise ValueError(f"X[{i}] has {n_features} features per time step (shape {shape}), but "
                             f"{type(model).__name__} was fitted with n_features_in_={model.n_features_in_}.")


def _send(model, client):
    """What the graph refers to for the model: a future of its copy on every worker (distributed),
    or one ``Delayed`` key holding it (local schedulers)."""
    if client is None:
        client = _current_client()
    if client is False or client is None:
        return dask.delayed(model, name=f"fastrnn-model-{uuid.uuid4().hex}", traverse=False)
    return client.scatter(model, broadcast=True, hash=False)


def _current_client():
    """The distributed client that compute() would use now, or None."""
    scheduler = dask.config.get("scheduler", None)
    if callable(scheduler):  # client.get, or a local scheduler's get
        owner = getattr(scheduler, "__self__", None)
        return owner if isinstance(owner, distributed.Client) else None
    if scheduler is not None and scheduler not in ("dask.distributed", "distributed"):
        return None  # a local scheduler named in dask.config wins over any client, as in compute()
    try:
        return distributed.get_client()  # the default client, or the worker's inside a task
    except ValueError:
        return None


def _map_blocks(X, model_ref, method, probe):
    """The lazy array of ``getattr(model, method)`` over the sample chunks of X ``(n, T[, D])``, whose
    output for one sample is ``probe`` ``(1, ...)``."""
    trailing = probe.shape[1:]
    ndim = 1 + len(trailing)
    axes = {}  # X's time and feature axes are single chunks, so blocks line up along samples alone
    if ndim < X.ndim:
        axes["drop_axis"] = list(range(ndim, X.ndim))
    elif ndim > X.ndim:
        axes["new_axis"] = list(range(X.ndim, ndim))
    return da.map_blocks(_predict_block, X, model_ref, method, chunks=(X.chunks[0],) + tuple((n,) for n in trailing),
                         dtype=probe.dtype, meta=np.empty((0,) + trailing, dtype=probe.dtype),
                         name=f"fastrnn-{method.replace('_', '-')}-{tokenize(X, model_ref, method)}", **axes)


def _predict_block(block, model, method):
    """``getattr(model, method)`` on one chunk of samples; block ``(n_chunk, T[, D])``."""
    return getattr(model, method)(block)


def _predict_partition(sequences, model, method):
    """One result per sequence of a bag partition, from one call of ``getattr(model, method)``."""
    sequences = list(sequences)
    if not sequences:
        return []
    return list(getattr(model, method)(sequences))
