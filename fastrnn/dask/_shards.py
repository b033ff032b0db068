"""Training data spread over the workers of a Dask cluster: one shard per worker, in a global order.

Data-parallel training needs each worker to hold a fixed part of the training sequences for the
whole fit, and every sequence to have one global position (the mini-batches are drawn over the
global positions, exactly as a fit in one process draws them, so that both see the same batches).

- A ``dask.array`` chunked along samples is cut into one contiguous range of samples per worker
  (ranges of equal size, so that every worker gets an equal share of every batch on average), and
  each range is computed on its worker, which keeps it. The other axes are made one chunk each.
- A list of shards (numpy arrays, or futures of arrays already on the workers) keeps its shards as
  they are, in list order: numpy arrays are sent to the workers in turn, futures stay where they are.

The targets are also gathered on the client: the estimator learns their encoding (classes,
outputs), the held-out split of early stopping and the baseline loss from all of them, as in one
process. They are small next to the sequences (one row per sequence, or one per step).
"""

import operator
from typing import NamedTuple

import dask.array as da
import numpy as np
from distributed import Future


class Shard(NamedTuple):
    """One worker's part of the data: ``n_samples`` consecutive sequences of the global order."""

    worker: str       # address of the worker that holds it
    x: Future         # (n_samples, T, D) or (n_samples, T) array on that worker
    y: Future         # its targets
    n_samples: int


class ShardedData(NamedTuple):
    """The shards, and what the client needs of the data."""

    shards: list      # Shard, in the global order
    head: np.ndarray  # the first sequence, (1, T, D) or (1, T): its shape and type
    targets: np.ndarray  # all targets, (n_samples, ...), on the client

    @property
    def n_samples(self):
        return sum(shard.n_samples for shard in self.shards)

    def locate(self):
        """``(slot, row)``: for each global position, the index of the shard that holds it and its
        row there, both (n_samples,) int arrays."""
        sizes = [shard.n_samples for shard in self.shards]
        slot = np.repeat(np.arange(len(sizes)), sizes)
        row = np.arange(self.n_samples) - np.repeat(np.cumsum([0] + sizes[:-1]), sizes)
        return slot, row


def shard(client, X, y):
    """:class:`ShardedData` of ``X`` and ``y`` on the workers of ``client`` (module docstring)."""
    workers = sorted(client.nthreads())
    if not workers:
        raise ValueError("the Dask cluster has no workers: start some (cluster.scale(n)) or wait for them "
                         "(client.wait_for_workers(n)).")
    if isinstance(X, da.Array):
        return _shard_array(client, workers, X, y)
    if isinstance(X, (list, tuple)):
        return _shard_list(client, workers, X, y)
    raise TypeError(f"X must be a dask.array.Array chunked along samples, or a list of shards (numpy arrays "
                    f"or futures of arrays on the workers); got {type(X).__name__}.")


def whole_sequences(X, samples_known=False):
    """A dask array of sequences ``X: (n, T, D)`` or ``(n, T)`` checked, with its time and feature axes
    in one chunk each (every task then holds whole sequences; X itself is left as it is). The sizes
    of those axes must be known, and the number of samples too when ``samples_known``."""
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be 3-D (n_samples, n_timesteps, n_features) or 2-D (n_samples, n_timesteps); "
                         f"got a dask array of shape {X.shape}.")
    if any(np.isnan(size) for size in X.shape[0 if samples_known else 1:]):
        raise ValueError(f"X has unknown chunk sizes (shape {X.shape}); compute them first "
                         f"(X.compute_chunk_sizes()).")
    split = {axis: -1 for axis in range(1, X.ndim) if len(X.chunks[axis]) > 1}
    return X.rechunk(split) if split else X


def _shard_array(client, workers, X, y):
    X = whole_sequences(X, samples_known=True)
    n_samples = X.shape[0]
    if n_samples == 0:
        raise ValueError("X holds no sequences.")
    if isinstance(y, da.Array):
        targets = np.asarray(client.compute(y).result())
    else:
        targets = np.asarray(y) if y is not None else None
    if targets is None or targets.ndim == 0 or targets.shape[0] != n_samples:
        raise ValueError(f"y must hold one target (or target sequence) per sequence of X ({n_samples}); got "
                         f"{'None' if targets is None else f'shape {targets.shape}'}.")
    n_slots = min(len(workers), n_samples)
    bounds = [n_samples * k // n_slots for k in range(n_slots + 1)]
    shards = []
    for worker, start, stop in zip(workers, bounds[:-1], bounds[1:]):
        x_part = client.compute(X[start:stop], workers=[worker])
        y_part = client.scatter(targets[start:stop], workers=[worker], hash=False)
        shards.append(Shard(worker, x_part, y_part, stop - start))
    return ShardedData(shards, np.asarray(client.compute(X[:1]).result()), targets)


def _shard_list(client, workers, X, y):
    if not isinstance(y, (list, tuple)) or len(y) != len(X):
        raise ValueError(f"X is a list of {len(X)} shards, so y must be a list of as many target arrays; got "
                         f"{type(y).__name__}{'' if not isinstance(y, (list, tuple)) else f' of {len(y)}'}.")
    if not X:
        raise ValueError("X holds no shards.")
    shards, target_parts, shapes = [], [], []
    for k, (x_part, y_part) in enumerate(zip(X, y)):
        if isinstance(x_part, Future):
            holders = client.who_has(x_part).get(x_part.key) or ()
            worker = holders[0] if holders else workers[k % len(workers)]
            shape = client.submit(np.shape, x_part, workers=[worker], pure=False).result()
        else:
            x_part = np.asarray(x_part)
            worker = workers[k % len(workers)]
            shape = x_part.shape
            x_part = client.scatter(x_part, workers=[worker], hash=False)
        if len(shape) not in (2, 3) or (shapes and shape[1:] != shapes[0][1:]):
            raise ValueError(f"the shards of X must hold sequences of one shape, (n, n_timesteps, n_features) or "
                             f"(n, n_timesteps); X[{k}] has shape {shape}"
                             f"{f', X[0] {shapes[0]}' if shapes else ''}.")
        shapes.append(shape)
        n_samples = shape[0]
        y_part = client.gather(y_part) if isinstance(y_part, Future) else y_part
        y_part = np.asarray(y_part)
        if y_part.ndim == 0 or y_part.shape[0] != n_samples:
            raise ValueError(f"y[{k}] must hold one target per sequence of X[{k}] ({n_samples}); got shape "
                             f"{y_part.shape}.")
        if n_samples:
            shards.append(Shard(worker, x_part, client.scatter(y_part, workers=[worker], hash=False), n_samples))
            target_parts.append(y_part)
    if not shards:
        raise ValueError("X holds no sequences.")
    head = np.asarray(client.submit(operator.getitem, shards[0].x, slice(0, 1), workers=[shards[0].worker],
                                    pure=False).result())
    targets = np.concatenate(target_parts)
    return ShardedData(shards, head, targets)
