"""Data-parallel training on Dask: how it scales from one worker to two here, and by a model beyond.

What is **measured**, on a ``distributed.LocalCluster(n_workers=2, processes=True,
threads_per_worker=1)``:

- **epochs**: one LSTM regressor (float32) trained by ``fastrnn.dask.fit`` on 1 worker (the data as
  one shard, held by one of the two workers; the other idles) and on 2 workers (two shards), and by
  ``model.fit`` in this process on one thread (``limited_threads(1)``, scipy's OpenBLAS held to one
  thread: what each Dask worker has), for each batch size. ``tol=0`` and a huge
  ``n_iter_no_change`` make every fit run ``1 + --epochs`` epochs; the first (warm-up) is dropped and
  the others are timed one by one (the client's ``_epoch_batches`` marks the start of each epoch);
  the replicas' setup is not in them. The three are interleaved batch by batch, round after round
  (``--rounds``), because this VM's speed drifts by up to 30 % within minutes: each number is the
  median over the rounds, each speed-up the median of the rounds' own ratios.
- **compute per update**: inside a worker's task, a :class:`fastrnn.dask._replica.Replica` of the
  same model on random sequences runs ``update(weights, index)`` (set the weights, forward pass, loss,
  BPTT, copy the gradient out: all a worker does for an update) on a share of ``B`` rows (1 worker)
  or ``B/2`` rows (2 workers), alone, and on both workers at the same moment. The wall time per
  update of a data-parallel fit is its epoch time over its updates; what the compute does not
  explain (``1 - compute / wall``) is communication and coordination (the client's share of the
  work, serialisation, the event loops; on this 2-core VM also the client's process competing with
  the two workers for the cores). As a cross-check, the fits' own ``Replica.update`` calls are timed
  in their workers too (``client.run`` wraps the method for the length of a fit: "in fit").
- **other load**: the cores that processes other than this benchmark's used during each epoch and
  each compute measurement (psutil: the machine's busy time less this process tree's). Epochs during
  which they used more than 0.25 of a core are set aside; a fit (or compute measurement) loaded
  throughout is run again after a pause, twice at most and within the first 7 minutes; what is left
  loaded is kept, and counted in the output.
- **round trips**: an actor method that receives ``P`` float32 values and sends them back (the
  weights go out, a gradient of the same size comes back), called on 1 worker and on both at once,
  for ``P`` = the model's parameter count and 1e2 ... 1e7: latency (the smallest payload) and
  bandwidth (the slope to the largest).
- **client step**: the client's own work per update, in this process: averaging the shares'
  gradients and the optimizer's step (``GradientStep``) on ``P`` parameters.

What is **extrapolated**, from those numbers, to N workers (printed as such):

- star (what ``fastrnn.dask.fit`` does: the client sends the weights to and receives a gradient from
  each worker)::

      t(N) = c0 + c1 * m(B, N) + t_client(N) + t_coord + L + (N-1) * d + N * S / BW

- tree (a reduction tree, for comparison: log2 N levels among the workers and one hop to the client,
  each a round trip of the weights)::

      t(N) = c0 + c1 * m(B, N) + t_client(1) + t_coord + (ceil(log2 N) + 1) * (L + S / BW)

  ``c0 + c1 * rows``: a worker's compute, fitted to the measured shares (``t_compute(B) / N``
  with the fixed cost per update ``c0`` kept whole). ``m(B, N)``: the expected
  rows of the largest of the N shares of a shuffled batch, ``B/N + e_N * sqrt(B/N)`` (``e_N``: the
  expected largest of N standard normals), since the slowest worker sets the pace. ``S = P * 4``
  bytes; ``L``, ``BW``: from the one-worker round trips; ``d``: the extra round-trip time of a second
  worker at the smallest payload (the client's cost per call); ``t_client``: the measured client
  step (linear in the shares); ``t_coord``: the client's loop around the calls that none of the parts
  times, by difference on one worker (wall per update - compute in fit - client step - round trip
  of P), so N=1 nearly reproduces the measured wall per update and N=2 tests the model.

  Speed-up = the measured in-process time per update / t(N). Break-even = the smallest batch (and
  its compute per update in one thread, ``c0 + c1 * B``) at which t(N) falls below the one-process
  time ``c0 + c1 * B + t_client(1)``. For other hidden sizes the compute per sequence is scaled with
  the parameter count (every weight takes about 3 * T multiply-adds per sequence: one forward, two backward). Not modelled: workers
  slowing each other on shared cores (measured here: "B/2 both" against "B/2 alone"), a network
  slower than this machine's loopback, stragglers.

Run:  python benchmarks/dask_scaling.py [--quick] [--rounds N] [--epochs N] [--output FILE]
Saves benchmarks/results/dask_scaling.json.
"""

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

FULL = dict(n_samples=16384, steps=50, features=8, hidden=64, batches=(32, 256, 1024), epochs=2, rounds=3,
            payloads=(100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000), budget_s=0.6, load_limit=0.25, retries=2,
            retry_for_s=420)
QUICK = dict(n_samples=256, steps=10, features=2, hidden=8, batches=(16, 64), epochs=1, rounds=1,
             payloads=(100, 10_000), budget_s=0.05, load_limit=0.25, retries=0,
             retry_for_s=0)
MODEL_WORKERS = (1, 2, 4, 8, 16, 32)
MODEL_HIDDEN = (32, 64, 128, 256, 512)


def make_data(n_samples, steps, features, seed=0):
    """float32 sequences ``(n, T, D)`` and a target that needs the recent past: the mean of feature 0
    over the last 5 steps."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, steps, features)).astype(np.float32)
    return X, X[:, -5:, 0].mean(axis=1)


def estimator_params(config, batch, epochs):
    """The regressor of every configuration: exactly ``epochs`` epochs (no stopping rule)."""
    return dict(cell="lstm", hidden_sizes=(config["hidden"],), batch_size=batch, max_iter=epochs, tol=0.0,
                n_iter_no_change=10**9, random_state=0, dtype="float32", device="cpu")


def one_thread():
    """fastrnn's passes and scipy's OpenBLAS (the BLAS of the kernels) on one thread, as in a Dask
    worker (whose OpenBLAS starts with OPENBLAS_NUM_THREADS=1)."""
    from fastrnn.kernels.cpu.blas_threads import blas_threads
    from fastrnn.kernels.cpu.threads import limited_threads

    stack = contextlib.ExitStack()
    stack.enter_context(limited_threads(1))
    if blas_threads() is not None:
        stack.enter_context(blas_threads().limited_to(1))
    return stack


@contextlib.contextmanager
def quiet():
    from fastrnn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter ends every fit, on purpose
        warnings.simplefilter("ignore", UserWarning)          # distributed's notes on large messages
        yield


def snapshot():
    """(wall clock, CPU seconds of this process and its children: the cluster's scheduler, nannies and
    workers, CPU seconds of the whole machine)."""
    import psutil  # a dependency of distributed

    me = psutil.Process()
    own = 0.0
    for process in [me] + me.children(recursive=True):
        try:
            times = process.cpu_times()
            own += times.user + times.system
        except psutil.Error:  # ended meanwhile
            pass
    machine = psutil.cpu_times()
    busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
    return time.perf_counter(), own, busy


def other_load(a, b):
    """Cores used by processes other than this benchmark's between two snapshots; None when they are
    too close for the CPU clocks' ticks (10 ms) to tell."""
    if b[0] - a[0] < 0.5:
        return None
    return max(0.0, ((b[2] - a[2]) - (b[1] - a[1])) / (b[0] - a[0]))


@contextlib.contextmanager
def epoch_clock(stamps):
    """Appends a :func:`snapshot` to ``stamps`` at the start of every epoch of the fits of this
    process: the training loop asks the estimator for the epoch's batches (``_epoch_batches``) once
    per epoch, in ``fit`` and on the client of ``fastrnn.dask.fit`` alike (the workers never do)."""
    from fastrnn.estimators._base import BaseRNNEstimator

    original = BaseRNNEstimator._epoch_batches

    def _epoch_batches(model, data):
        stamps.append(snapshot())
        return original(model, data)

    BaseRNNEstimator._epoch_batches = _epoch_batches
    try:
        yield stamps
    finally:
        BaseRNNEstimator._epoch_batches = original


def timed_fit(fit):
    """``fit()``'s epochs after the first: (seconds of each, cores other processes used during each,
    seconds of the whole call)."""
    stamps = []
    with quiet(), epoch_clock(stamps):
        start = time.perf_counter()
        fit()
        stamps.append(snapshot())
    bounds = stamps[1:]
    return ([b[0] - a[0] for a, b in zip(bounds[:-1], bounds[1:])],
            [other_load(a, b) for a, b in zip(bounds[:-1], bounds[1:])], bounds[-1][0] - start)


def clean(epochs, loads, limit):
    """The epochs during which other processes used at most ``limit`` cores (all of them when none was)."""
    kept = [e for e, load in zip(epochs, loads) if load is None or load <= limit]
    return kept or list(epochs)


# ---------------------------------------------------------------------------------- worker side
def share_compute(config, params, rows, budget_s, start_at):
    """In a worker's task: seconds of one ``Replica.update`` on a share of ``rows`` sequences (median
    over ``budget_s`` of calls after two warm-up calls, from the wall-clock time ``start_at`` on, so
    that the workers timed together overlap), and this worker's BLAS threads."""
    from fastrnn import RNNRegressor
    from fastrnn.dask._replica import Replica
    from fastrnn.kernels.cpu.blas_threads import blas_threads

    X, y = make_data(rows, config["steps"], config["features"], seed=rows)
    model = RNNRegressor(**params)
    model._training_data(X, y)  # the network, the targets' encoding: as the client prepares it
    replica = Replica(model, X, y, np.arange(0), 1)
    weights = model.network_.params.copy()
    index = np.arange(rows)
    replica.update(weights, index)
    time.sleep(max(0.0, start_at - time.time()))
    replica.update(weights, index)
    times = []
    stop = time.perf_counter() + budget_s
    while len(times) < 3 or time.perf_counter() < stop:
        start = time.perf_counter()
        replica.update(weights, index)
        times.append(time.perf_counter() - start)
    blas = blas_threads()
    return {"median_s": statistics.median(times), "calls": len(times),
            "blas_threads": None if blas is None else blas.get()}


def time_replica_updates(start):
    """In a worker (``client.run``): from ``start=True`` on, record the seconds of every
    ``Replica.update`` this worker runs (the compute of a data-parallel fit's updates, where they run);
    ``start=False`` stops recording and returns them."""
    from fastrnn.dask._replica import Replica

    current = Replica.__dict__["update"]
    if not start:
        if hasattr(current, "original"):
            Replica.update = current.original
        return list(getattr(current, "timings", []))
    original = getattr(current, "original", current)

    def update(self, params, index=None):
        begin = time.perf_counter()
        try:
            return original(self, params, index)
        finally:
            update.timings.append(time.perf_counter() - begin)

    update.original, update.timings = original, []
    Replica.update = update
    return None


class Echo:
    """An actor that sends back what it receives (weights out, a gradient of the same size back)."""

    def echo(self, payload):
        return payload


# ---------------------------------------------------------------------------------- client side
def round_trip(actors, payload, budget_s):
    """Median seconds to call ``echo(payload)`` on every actor at once and have every reply."""
    def call():
        start = time.perf_counter()
        futures = [actor.echo(payload) for actor in actors]
        for future in futures:
            future.result()
        return time.perf_counter() - start

    call()
    first = call()
    n = int(min(200, max(3, budget_s / max(first, 1e-6))))
    return statistics.median(call() for _ in range(n))


def client_step_times(model, n_shares_list, repeats=200):
    """Median seconds of the client's work per update for ``n`` shares: averaging their gradients
    (as ``_DataParallelEpochs._batch_updates``) and the gradient step with the optimizer."""
    from fastrnn.estimators._training import GradientStep

    network = model.network_
    step = GradientStep(model, network.backend.copy(network.active_params))
    rng = np.random.default_rng(1)
    times = {}
    for n_shares in n_shares_list:
        grads = [(rng.normal(size=network.grad.shape) * 1e-3).astype(network.grad.dtype) for _ in range(n_shares)]

        def update():
            gradient = np.zeros_like(network.grad)
            for grad in grads:
                gradient += (1.0 / n_shares) * grad
            step(0.1, 32, partial(np.copyto, network.grad, gradient))

        with one_thread():
            update()
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                update()
                samples.append(time.perf_counter() - start)
        times[n_shares] = statistics.median(samples)
    return times


def largest_share(n_samples, batch, n_workers=2, n_epochs=20, seed=0):
    """Mean size of the largest worker share of a batch (shuffled batches, equal contiguous shards)."""
    rng = np.random.default_rng(seed)
    bounds = [n_samples * k // n_workers for k in range(n_workers + 1)]
    sizes = []
    for _ in range(n_epochs):
        order = rng.permutation(n_samples)
        for start in range(0, n_samples, batch):
            counts = np.histogram(order[start:start + batch], bins=bounds)[0]
            sizes.append(counts.max())
    return float(np.mean(sizes))


def expected_max_normal(n):
    """Expected largest of ``n`` independent standard normal values."""
    x = np.linspace(-12.0, 12.0, 48001)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return float(np.sum(x * n * density * cdf ** (n - 1)) * (x[1] - x[0]))


_MAX_NORMAL = {}


def largest_rows(batch, n_workers):
    """Expected rows of the largest of N workers' shares of a shuffled batch (equal shards): the
    shares are multinomial, so about B/N + E[max of N normals] * sqrt(B/N) (capped at B)."""
    if n_workers not in _MAX_NORMAL:
        _MAX_NORMAL[n_workers] = expected_max_normal(n_workers)
    return np.minimum(batch, batch / n_workers + _MAX_NORMAL[n_workers] * np.sqrt(batch / n_workers))


def parameter_count(config, hidden):
    from fastrnn import RNNRegressor

    X, y = make_data(4, config["steps"], config["features"])
    model = RNNRegressor(**{**estimator_params(config, 4, 1), "hidden_sizes": (hidden,)})
    model._training_data(X, y)
    return int(model.network_.params.size)


def versions():
    import dask
    import distributed
    import numba

    import fastrnn

    return {"python": sys.version.split()[0], "numpy": np.__version__, "numba": numba.__version__,
            "dask": dask.__version__, "distributed": distributed.__version__, "fastrnn": fastrnn.__version__}


def median(values):
    return statistics.median(values)


# ---------------------------------------------------------------------------------- the runs
def measure(config, client, out):
    """Every measured number, interleaved round by round (module docstring)."""
    import fastrnn.dask
    from fastrnn import RNNRegressor

    n, batches, epochs = config["n_samples"], config["batches"], config["epochs"]
    X, y = make_data(n, config["steps"], config["features"])
    workers = sorted(client.scheduler_info()["workers"])[:2]
    half = n // 2
    shards = {1: ([client.scatter(X, workers=[workers[0]], hash=False)], [y]),
              2: ([client.scatter(X[:half], workers=[workers[0]], hash=False),
                   client.scatter(X[half:], workers=[workers[1]], hash=False)], [y[:half], y[half:]])}
    echoes = [client.submit(Echo, actor=True, workers=[w], pure=False).result() for w in workers]
    reference = None
    rounds = []
    retry_until = time.perf_counter() + config["retry_for_s"]  # bounds the whole run under lasting load
    for r in range(config["rounds"]):
        record = {"round": r + 1, "batches": {}, "round_trips": {}}
        for batch in batches:
            params = estimator_params(config, batch, 1 + epochs)
            entry = record["batches"][str(batch)] = {}

            def in_process():
                nonlocal reference
                reference = RNNRegressor(**params)
                with one_thread():
                    reference.fit(X, y)

            fits = {"in_process": in_process}
            for w in (1, 2):
                fits[f"workers_{w}"] = partial(lambda w: fastrnn.dask.fit(RNNRegressor(**params), shards[w][0],
                                                                          shards[w][1], client=client), w)
            updates = math.ceil(n / min(batch, n))
            limit = config["load_limit"]
            for name, fit in fits.items():
                used = workers[:int(name[-1])] if name != "in_process" else []
                for attempt in range(1 + config["retries"]):  # again when other processes loaded every epoch
                    if used:
                        client.run(time_replica_updates, True, workers=used)
                    epoch_s, loads, fit_s = timed_fit(fit)
                    if used:  # the slower share of every update after the warm-up epoch, as timed in the fit
                        timings = list(client.run(time_replica_updates, False, workers=used).values())
                        per_update = [max(t) for t in zip(*timings)][updates:]
                    if any(load is None or load <= limit for load in loads) or time.perf_counter() > retry_until:
                        break
                    time.sleep(5.0)
                entry[f"{name}_fit_s"], entry[f"{name}_attempts"] = fit_s, attempt + 1
                entry[f"{name}_all_epochs_s"], entry[f"{name}_other_load_cores"] = epoch_s, loads
                entry[f"{name}_epochs_s"] = clean(epoch_s, loads, limit)
                if used:
                    entry[f"{name}_compute_in_fit_s"] = median(per_update) if per_update else None
            # the compute of one worker's share, timed in the worker: B rows alone, B/2 alone and on both at once
            for key, rows, where in (("compute_B", batch, workers[:1]), ("compute_half", batch // 2, workers[:1]),
                                     ("compute_half_together", batch // 2, workers)):
                for attempt in range(1 + config["retries"]):
                    start_at = time.time() + (1.0 if len(where) > 1 else 0.0)
                    futures = [client.submit(share_compute, config, params, rows, config["budget_s"], start_at,
                                             workers=[w], pure=False) for w in where]
                    before = snapshot()
                    results = client.gather(futures)
                    load = other_load(before, snapshot())
                    if load is None or load <= limit or time.perf_counter() > retry_until:
                        break
                    time.sleep(5.0)
                entry[f"{key}_s"] = [result["median_s"] for result in results]
                entry[f"{key}_other_load_cores"], entry[f"{key}_attempts"] = load, attempt + 1
                entry["worker_blas_threads"] = results[0]["blas_threads"]
            out(f"  round {r + 1} batch {batch}: epoch s in-process {median(entry['in_process_epochs_s']):.3f}, "
                f"1 worker {median(entry['workers_1_epochs_s']):.3f}, 2 workers {median(entry['workers_2_epochs_s']):.3f}")
        payloads = sorted(set(config["payloads"]) | {int(reference.network_.params.size)})
        for size in payloads:
            payload = np.ones(size, np.float32)
            record["round_trips"][str(size)] = {
                f"workers_{w}_s": round_trip(echoes[:w], payload, config["budget_s"] / 2) for w in (1, 2)}
        rounds.append(record)
    return rounds, reference


def analyse(config, rounds, client_steps, n_params, params_by_hidden):
    """Medians over the rounds, the communication model and its extrapolation."""
    n = config["n_samples"]
    itemsize = 4
    rows = []
    for batch in config["batches"]:
        updates = math.ceil(n / min(batch, n))
        per = [record["batches"][str(batch)] for record in rounds]
        epoch = {k: median([median(p[f"{k}_epochs_s"]) for p in per]) for k in ("in_process", "workers_1", "workers_2")}
        ratio = {
            "workers_2_over_workers_1": median([median(p["workers_1_epochs_s"]) / median(p["workers_2_epochs_s"]) for p in per]),
            "workers_2_over_in_process": median([median(p["in_process_epochs_s"]) / median(p["workers_2_epochs_s"]) for p in per]),
            "workers_1_over_in_process": median([median(p["in_process_epochs_s"]) / median(p["workers_1_epochs_s"]) for p in per]),
        }
        in_fit = {f"workers_{w}": median([p[f"workers_{w}_compute_in_fit_s"] for p in per]) for w in (1, 2)}
        compute_b = median([p["compute_B_s"][0] for p in per])
        compute_half = median([p["compute_half_s"][0] for p in per])
        compute_half_together = median([max(p["compute_half_together_s"]) for p in per])
        share_1 = median([1 - p["compute_B_s"][0] / (median(p["workers_1_epochs_s"]) / updates) for p in per])
        share_2 = median([1 - max(p["compute_half_together_s"]) / (median(p["workers_2_epochs_s"]) / updates)
                          for p in per])
        names = ("in_process", "workers_1", "workers_2")
        loads = [load for p in per for k in names for load in p[f"{k}_other_load_cores"] if load is not None]
        n_all = sum(len(p[f"{k}_all_epochs_s"]) for p in per for k in names)
        n_kept = sum(len(p[f"{k}_epochs_s"]) for p in per for k in names)
        repeated = sum(p[f"{k}_attempts"] - 1 for p in per for k in names)
        loaded = sum(all(load is not None and load > config["load_limit"] for load in p[f"{k}_other_load_cores"])
                     for p in per for k in names)
        rows.append({"batch": batch, "updates_per_epoch": updates, "epoch_s": epoch, "speed_up": ratio,
                     "other_load_cores_max": max(loads, default=None), "epochs_timed": n_all,
                     "epochs_set_aside": n_all - n_kept, "fits_repeated": repeated, "fits_loaded_throughout": loaded,
                     "update_s": {k: v / updates for k, v in epoch.items()},
                     "compute_B_s": compute_b, "compute_half_s": compute_half, "compute_in_fit_s": in_fit,
                     "compute_half_together_s": compute_half_together,
                     "largest_share_of_2": largest_share(n, batch),
                     "communication_share": {"workers_1": share_1, "workers_2": share_2},
                     "worker_blas_threads": per[0]["worker_blas_threads"]})
    # round trips: medians over rounds
    sizes = sorted(int(s) for s in rounds[0]["round_trips"])
    trips = {s: {w: median([record["round_trips"][str(s)][f"workers_{w}_s"] for record in rounds]) for w in (1, 2)}
             for s in sizes}
    small, large = sizes[0], sizes[-1]
    latency = trips[small][1]
    bandwidth = (large - small) * itemsize / max(trips[large][1] - trips[small][1], 1e-9)
    extra_worker = max(0.0, trips[small][2] - trips[small][1])
    bandwidth_2 = 2 * (large - small) * itemsize / max(trips[large][2] - trips[small][2], 1e-9)
    # compute per update: c0 + c1 * rows, fitted to the shares timed alone
    points = [(row["batch"], row["compute_B_s"]) for row in rows] + [(row["batch"] // 2, row["compute_half_s"])
                                                                      for row in rows]
    c1, c0 = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
    c0 = max(0.0, float(c0))
    c1 = float(c1)
    step_n = sorted(client_steps)
    step_slope = (client_steps[step_n[-1]] - client_steps[step_n[0]]) / max(step_n[-1] - step_n[0], 1)

    def t_client(n_workers):
        return client_steps[step_n[0]] + step_slope * (n_workers - step_n[0])

    def comm(n_workers, size, topology):
        payload = size * itemsize
        if topology == "star":
            return latency + (n_workers - 1) * extra_worker + n_workers * payload / bandwidth
        return (math.ceil(math.log2(n_workers)) + 1) * (latency + payload / bandwidth)

    # what the parts do not explain at N=1: the client's loop per update around the calls, by difference
    # with the compute of the same fit's updates (timed in its worker)
    for row in rows:
        per = [record["batches"][str(row["batch"])] for record in rounds]
        row["coordination_s"] = max(0.0, median([
            median(p["workers_1_epochs_s"]) / row["updates_per_epoch"] - p["workers_1_compute_in_fit_s"] for p in per])
            - t_client(1) - comm(1, n_params, "star"))
    coordination = median([row["coordination_s"] for row in rows])

    def t_update(batch, n_workers, topology, size=n_params, per_row=c1, coordination=coordination):
        """Seconds per update on N workers: the largest share's compute, the client, the messages."""
        client_time = t_client(n_workers if topology == "star" else 1) + coordination
        return c0 + per_row * largest_rows(batch, n_workers) + client_time + comm(n_workers, size, topology)

    def t_one_process(batch, per_row=c1):
        return c0 + per_row * batch + t_client(1)

    def break_even(n_workers, topology, size=n_params, per_row=c1):
        """The smallest batch (and its compute per update in one process) at which N workers beat one
        process by the model; None if no batch up to 10^6 does."""
        batch = np.arange(1, 10**6 + 1, dtype=float)
        pays = t_update(batch, n_workers, topology, size, per_row) < t_one_process(batch, per_row)
        if not pays.any():
            return None
        smallest = int(batch[np.argmax(pays)])
        return {"batch": smallest, "compute_s": float(t_one_process(smallest, per_row) - t_client(1))}

    model = {"coordination_s": coordination, "latency_s": latency, "bandwidth_bytes_per_s": bandwidth, "extra_worker_s": extra_worker,
             "bandwidth_2_workers_bytes_per_s": bandwidth_2, "compute_fixed_s": c0, "compute_per_row_s": c1,
             "client_step_s": {str(k): v for k, v in client_steps.items()}, "n_params": n_params,
             "bytes_per_value": itemsize, "speed_up": {}, "check": {}, "break_even": {}, "break_even_by_hidden": {}}
    for row in rows:
        batch = row["batch"]
        in_process = row["update_s"]["in_process"]
        model["speed_up"][str(batch)] = {
            topology: {str(w): in_process / t_update(batch, w, topology, coordination=row["coordination_s"])
                       for w in MODEL_WORKERS}
            for topology in ("star", "tree")}
        model["check"][str(batch)] = {  # N=1 matches by construction (coordination); N=2 is a test of the model
            f"workers_{w}": {"predicted_s": t_update(batch, w, "star", coordination=row["coordination_s"]),
                             "measured_s": row["update_s"][f"workers_{w}"]} for w in (1, 2)}
    for topology in ("star", "tree"):
        model["break_even"][topology] = {str(w): break_even(w, topology) for w in MODEL_WORKERS if w > 1}
        model["break_even_by_hidden"][topology] = {
            str(hidden): {"n_params": size, **{str(w): (break_even(w, topology, size, c1 * size / n_params) or {}).get("batch")
                                               for w in MODEL_WORKERS if w > 1}}
            for hidden, size in params_by_hidden.items()}
    return {"rows": rows, "round_trips": {str(s): {f"workers_{w}_s": trips[s][w] for w in (1, 2)} for s in sizes},
            "model": model}


# ---------------------------------------------------------------------------------- printing
def report(config, machine, analysis, out):
    rows, model = analysis["rows"], analysis["model"]
    ms = 1e3
    out("")
    out(f"MEASURED, {machine}: LSTM H={config['hidden']}, T={config['steps']}, D={config['features']}, "
        f"{config['n_samples']} sequences, float32, P={model['n_params']} parameters; median of "
        f"{config['rounds']} interleaved rounds of {config['epochs']} epochs after a warm-up epoch")
    out(f"{'batch':>5s} {'upd/ep':>6s} | {'s/epoch: 1 thread':>17s} {'1 worker':>8s} {'2 workers':>9s} | "
        f"{'2w/1w':>6s} {'2w/1thr':>7s} {'1w/1thr':>7s}")
    for row in rows:
        e, s = row["epoch_s"], row["speed_up"]
        out(f"{row['batch']:5d} {row['updates_per_epoch']:6d} | {e['in_process']:17.3f} {e['workers_1']:8.3f} "
            f"{e['workers_2']:9.3f} | {s['workers_2_over_workers_1']:5.2f}x {s['workers_2_over_in_process']:6.2f}x "
            f"{s['workers_1_over_in_process']:6.2f}x")
    loads = [r["other_load_cores_max"] for r in rows if r["other_load_cores_max"] is not None]
    out(f"  other processes' load during the timed epochs: "
        f"{f'at most {max(loads):.2f} cores' if loads else 'not measurable (epochs under 0.5 s)'}; fits repeated "
        f"because it exceeded {config['load_limit']} cores in every epoch: {sum(r['fits_repeated'] for r in rows)}; "
        f"epochs set aside: {sum(r['epochs_set_aside'] for r in rows)} of {sum(r['epochs_timed'] for r in rows)}; "
        f"fits loaded throughout (kept): {sum(r['fits_loaded_throughout'] for r in rows)}")
    out("")
    out("MEASURED per update (ms): wall = epoch / updates; compute = one worker's Replica.update, timed in the worker")
    out(f"{'batch':>5s} | {'1 thread':>8s} | {'1w wall':>7s} {'compute B':>9s} {'in fit':>6s} {'comm':>4s} | "
        f"{'2w wall':>7s} {'B/2 alone':>9s} {'B/2 both':>8s} {'in fit':>6s} {'comm':>4s} | {'largest':>7s}")
    for row in rows:
        u, c, f = row["update_s"], row["communication_share"], row["compute_in_fit_s"]
        out(f"{row['batch']:5d} | {u['in_process'] * ms:8.2f} | {u['workers_1'] * ms:7.2f} {row['compute_B_s'] * ms:9.2f} "
            f"{f['workers_1'] * ms:6.2f} {c['workers_1']:4.0%} | {u['workers_2'] * ms:7.2f} "
            f"{row['compute_half_s'] * ms:9.2f} {row['compute_half_together_s'] * ms:8.2f} {f['workers_2'] * ms:6.2f} "
            f"{c['workers_2']:4.0%} | {row['largest_share_of_2']:7.1f}")
    out("  compute: a share of B (B/2) rows timed in a worker's task (both: on the two workers at once); in fit: the "
        "same, timed around the fit's own update calls (2 workers: the slower share of each update); comm = "
        "communication + coordination share = 1 - compute / wall (2 workers: 'both'); largest = mean rows of the "
        "larger of a batch's two shares")
    out("")
    out("MEASURED actor round trip (ms; P float32 values out, the same back; 2 workers: both called at once)")
    out(f"{'values':>9s} {'MB each way':>11s} | {'1 worker':>8s} {'2 workers':>9s}")
    for size, trip in analysis["round_trips"].items():
        marker = "  <- P" if int(size) == model["n_params"] else ""
        out(f"{int(size):9d} {int(size) * 4 / 1e6:11.4f} | {trip['workers_1_s'] * ms:8.3f} {trip['workers_2_s'] * ms:9.3f}"
            f"{marker}")
    steps = model["client_step_s"]
    out(f"  latency L = {model['latency_s'] * ms:.3f} ms; bandwidth BW = {model['bandwidth_bytes_per_s'] / 1e6:.0f} MB/s "
        f"of weights per round trip (1 worker; {model['bandwidth_2_workers_bytes_per_s'] / 1e6:.0f} MB/s to 2 at once); "
        f"extra per worker d = {model['extra_worker_s'] * ms:.3f} ms")
    out("  client step (averaging + optimizer, P values): " + ", ".join(
        f"{k} share{'s' if k != '1' else ''} {v * ms:.3f} ms" for k, v in steps.items()))
    out(f"  compute per update fitted to the shares timed alone: c0 = {model['compute_fixed_s'] * ms:.3f} ms + "
        f"c1 = {model['compute_per_row_s'] * 1e6:.1f} us per sequence")
    out("  coordination per update (1-worker wall - compute in fit - client step - round trip of P): "
        + ", ".join(f"B={row['batch']} {row['coordination_s'] * ms:.2f} ms" for row in rows))
    out("")
    out("EXTRAPOLATED speed-up over one process (1 thread), by the model (star: fastrnn.dask.fit; tree: a reduction tree)")
    out(f"{'batch':>5s} {'':5s} | " + " ".join(f"{'N=' + str(w):>6s}" for w in MODEL_WORKERS))
    for row in rows:
        for topology in ("star", "tree"):
            speed = model["speed_up"][str(row["batch"])][topology]
            out(f"{row['batch']:5d} {topology:5s} | " + " ".join(f"{speed[str(w)]:5.2f}x" for w in MODEL_WORKERS))
    out("  model check, predicted vs measured wall per update (ms; the coordination term is taken at N=1): " + "; ".join(
        f"B={b}: 1w {c['workers_1']['predicted_s'] * ms:.2f} vs {c['workers_1']['measured_s'] * ms:.2f}, "
        f"2w {c['workers_2']['predicted_s'] * ms:.2f} vs {c['workers_2']['measured_s'] * ms:.2f}"
        for b, c in model["check"].items()))
    out("")
    out(f"EXTRAPOLATED break-even (P={model['n_params']}): data-parallel on N workers pays from this compute per "
        f"update (whole batch, one thread) / batch size")
    for topology in ("star", "tree"):
        out(f"  {topology}: " + "; ".join(f"N={w}: {v['compute_s'] * ms:.2f} ms / B>={v['batch']}" if v else f"N={w}: never"
                                          for w, v in model["break_even"][topology].items()))
    out(f"EXTRAPOLATED break-even batch by hidden size (T={config['steps']}, D={config['features']}; compute per "
        f"sequence taken proportional to the parameter count)")
    out(f"{'H':>5s} {'P':>8s} {'':5s} | " + " ".join(f"{'N=' + str(w):>7s}" for w in MODEL_WORKERS if w > 1))
    for hidden in model["break_even_by_hidden"]["star"]:
        for topology in ("star", "tree"):
            entry = model["break_even_by_hidden"][topology][hidden]
            out(f"{int(hidden):5d} {entry['n_params']:8d} {topology:5s} | " + " ".join(
                f"{entry[str(w)]:7d}" if entry[str(w)] else f"{'never':>7s}" for w in MODEL_WORKERS if w > 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (for the tests)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 with --quick)")
    parser.add_argument("--epochs", type=int, help="timed epochs per fit, after a warm-up epoch (default 2)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "dask_scaling.json"))
    args = parser.parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    if args.rounds:
        config["rounds"] = args.rounds
    if args.epochs:
        config["epochs"] = args.epochs
    config["batches"] = [b for b in config["batches"] if b <= config["n_samples"]]

    import logging

    import cloudpickle
    from distributed import Client, LocalCluster

    from fastrnn._bench import cpu_description

    module = sys.modules.get(__name__)
    if __name__ != "__main__" and module is not None:  # imported: the workers get this module's code by value
        cloudpickle.register_pickle_by_value(module)
    cpu, cores = cpu_description()
    machine = f"{cpu}, {cores} cores"
    found = versions()
    out = print
    out(f"fastrnn.dask.fit scaling on {machine}; " + ", ".join(f"{k} {v}" for k, v in found.items())
        + f"; {time.strftime('%Y-%m-%d')}")
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        rounds, reference = measure(config, client, out)
    client_steps = client_step_times(reference, (1, 2, 8), repeats=20 if args.quick else 200)
    n_params = int(reference.network_.params.size)
    params_by_hidden = {h: parameter_count(config, h) for h in MODEL_HIDDEN}
    analysis = analyse(config, rounds, client_steps, n_params, params_by_hidden)
    report(config, machine, analysis, out)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": {"cpu": cpu, "cores": cores}, "versions": found,
              "configuration": {**config, "cell": "lstm", "dtype": "float32", "cluster":
                                "LocalCluster(n_workers=2, threads_per_worker=1, processes=True)",
                                "in_process": "model.fit under limited_threads(1), scipy's OpenBLAS at 1 thread",
                                "one_worker": "the data as one shard on one of the two workers (the other idle)",
                                "model_workers": list(MODEL_WORKERS)},
              "measured": {"rounds": rounds, "rows": analysis["rows"], "round_trips": analysis["round_trips"],
                           "client_step_s": {str(k): v for k, v in client_steps.items()}},
              "extrapolated": analysis["model"], "wall_s": time.perf_counter() - started,
              "unit": "seconds"}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    out(f"saved {args.output} ({result['wall_s']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
