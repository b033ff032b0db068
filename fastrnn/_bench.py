"""``python -m fastrnn bench``: fastrnn against PyTorch on the CPU, in the same process, on the same data.

For each cell and each (batch, T, features, hidden) of the grid:

- **train**: one epoch of ``--batches`` mini-batches, many-to-one regression: fastrnn's
  ``RNNRegressor.partial_fit`` (forward, BPTT, Adam, clipping off) against ``torch.nn.LSTM``/``GRU``/``RNN`` +
  ``Linear`` + ``torch.optim.Adam`` with the same loss, data and threads. Reported as sequences/s.
- **inference**: ``predict`` on one batch against the PyTorch module under ``no_grad``.

Warm-up runs are excluded and each timed block starts after a short pause (idle threads of the other
library stop spinning); times are medians over ``--repeats``. Also reported: the single-sequence
latency (batch 1, T=100, 1 feature, hidden 64; onnxruntime's too, running the graph of
:func:`fastrnn.onnx.export`, when onnx and onnxruntime are installed), the first fit in a process
with an empty Numba cache (compilation included), and the first prediction of a second process that
loads the cache. The table names the machine and library versions and is saved as JSON.
"""

import importlib.util
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

GRID = [(1, 100, 1, 32), (32, 50, 16, 64), (16, 200, 8, 128), (64, 100, 64, 256), (128, 50, 32, 512)]
QUICK_GRID = [(1, 100, 1, 32), (32, 50, 16, 64)]
LATENCY_SHAPE = (1, 100, 1, 64)


def cpu_description():
    """Processor model (from /proc/cpuinfo on Linux) and the number of cores this process may use."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return model, _cores()


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def median_time(function, repeats, synchronize=None):
    """Median wall time of ``function`` over ``repeats`` calls, after two warm-up calls.

    A pause first lets the worker threads of the library timed before (PyTorch's OpenMP pool,
    OpenBLAS's) stop spinning, so that the two libraries, alternating in one process on few cores,
    do not slow each other down. ``synchronize`` (for example ``cuda.synchronize``) runs inside each
    timed call, so that asynchronous GPU work is counted.
    """
    time.sleep(0.3)
    function()  # warm-up (compilation, caches, allocator)
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        if synchronize is not None:
            synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _data(batch, steps, features, n_batches, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch * n_batches, steps, features)).astype(np.float32)
    y = X[:, -5:, 0].mean(axis=1).astype(np.float32)
    return X, y


def _rounds(rounds, torch, fastrnn_times, torch_times):
    """Alternate ``fastrnn_times()`` and ``torch_times()`` (each a (train s, inference s) pair)
    ``rounds`` times; medians of each side and of the per-round ratios (torch / fastrnn)."""
    ours, theirs = [], []
    for _ in range(max(1, rounds)):
        ours.append(fastrnn_times())
        if torch is not None:
            theirs.append(torch_times())
    result = {"fastrnn": tuple(statistics.median(t[k] for t in ours) for k in range(2))}
    if theirs:
        result["torch"] = tuple(statistics.median(t[k] for t in theirs) for k in range(2))
        result["ratio"] = tuple(statistics.median(b[k] / a[k] for a, b in zip(ours, theirs)) for k in range(2))
    return result


def time_fastrnn(cell, batch, steps, features, hidden, n_batches, repeats):
    """(epoch seconds, inference seconds for one batch)."""
    from .estimators import RNNRegressor
    from . import exceptions

    X, y = _data(batch, steps, features, n_batches)
    model = RNNRegressor(cell=cell, hidden_sizes=(hidden,), batch_size=batch, shuffle=False, clip_grad_norm=None,
                         alpha=0.0, learning_rate_init=1e-4, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        epoch = median_time(lambda: model.partial_fit(X, y), repeats)
    inference = median_time(lambda: model.predict(X[:batch]), repeats)
    return epoch, inference


def time_torch(torch, cell, batch, steps, features, hidden, n_batches, repeats):
    """(epoch seconds, inference seconds for one batch) for the equivalent PyTorch model and loop."""
    X, y = _data(batch, steps, features, n_batches)
    torch.manual_seed(0)
    module_class = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    recurrent = module_class(features, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, 1)
    optimizer = torch.optim.Adam(list(recurrent.parameters()) + list(head.parameters()), lr=1e-4)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        for start in range(0, len(X_t), batch):
            optimizer.zero_grad(set_to_none=True)
            out = head(recurrent(X_t[start:start + batch])[0][:, -1])[:, 0]
            loss = 0.5 * ((out - y_t[start:start + batch]) ** 2).mean()
            loss.backward()
            optimizer.step()

    def inference():
        with torch.no_grad():
            head(recurrent(X_t[:batch])[0][:, -1])

    return median_time(epoch, repeats), median_time(inference, repeats)


def time_onnxruntime(cell, batch, steps, features, hidden, repeats):
    """Seconds of onnxruntime's ``session.run`` on one batch, for an RNNRegressor of this shape exported
    with :func:`fastrnn.onnx.export`; None when onnx or onnxruntime is not installed.

    The model is fitted for one epoch on a few random sequences (its weights do not change the time).
    """
    if importlib.util.find_spec("onnx") is None:  # export needs it
        return None
    try:
        import onnxruntime
    except ImportError:
        return None
    from .estimators import RNNRegressor
    from .onnx import export
    from . import exceptions

    X, y = _data(batch, steps, features, 4)
    model = RNNRegressor(cell=cell, hidden_sizes=(hidden,), max_iter=1, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        model.fit(X, y)
    graph = io.BytesIO()
    export(model, graph)
    options = onnxruntime.SessionOptions()
    # One thread, as fastrnn runs this batch: it splits a batch over threads only from
    # 2 * MIN_ROWS_PER_THREAD (8) sequences, so a single sequence runs in one thread.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])
    feeds = {"X": X[:batch]}
    return median_time(lambda: session.run(None, feeds), repeats)


_COLD_START = textwrap.dedent("""
    import time
    start = time.perf_counter()
    import numpy as np
    import fastrnn
    imported = time.perf_counter()
    X = np.random.default_rng(0).normal(size=(8, 10, 2)).astype(np.float32)
    model = fastrnn.RNNRegressor(cell="{cell}", hidden_sizes=(8,), max_iter=1, device="cpu").fit(X, X[:, -1, 0])
    fitted = time.perf_counter()
    model.predict(X)
    print(imported - start, fitted - imported, time.perf_counter() - fitted)
""")


def compile_times(cell):
    """Seconds of a first fit with an empty Numba cache, and of a second process that loads it."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        code = _COLD_START.format(cell=cell)

        def run():
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            return [float(v) for v in out.stdout.split()]

        cold = run()
        warm = run()
    return {"cold_import_s": cold[0], "cold_first_fit_s": cold[1], "warm_import_s": warm[0],
            "warm_first_fit_s": warm[1], "warm_total_s": sum(warm)}


def run(quick=False, repeats=5, n_batches=4, cells=("rnn", "lstm", "gru"), output=None, out=print, grid=None,
        measure_compile=True, rounds=1):
    """Run the benchmark; print the table; return (and save) the results as a dict.

    ``grid`` overrides the (batch, T, features, hidden) points; ``measure_compile=False`` skips the
    cold-start processes (about 10 s each). ``rounds``: how many times each point alternates between
    fastrnn and PyTorch; every reported number is the median over the rounds, each ratio the median
    of the rounds' own ratios (both sides of a round are timed seconds apart, so a drift of the
    machine's speed between rounds cancels out of them).
    """
    try:
        import torch

        torch.set_num_threads(_cores())
    except ImportError:
        torch = None
    from . import __version__

    model, cores = cpu_description()
    import numba

    header = (f"fastrnn {__version__} vs PyTorch {torch.__version__ if torch else '(not installed)'} on {model}, "
              f"{cores} cores; numba {numba.__version__}, numpy {np.__version__}; "
              f"{time.strftime('%Y-%m-%d')}")
    out(header)
    out(f"{'cell':4s} {'batch':>5s} {'T':>4s} {'D':>3s} {'H':>4s} | {'train seq/s':>11s} {'torch':>9s} {'ratio':>6s} | "
        f"{'infer ms':>9s} {'torch':>8s} {'ratio':>6s}")
    rows = []
    for cell in cells:
        for batch, steps, features, hidden in (grid or (QUICK_GRID if quick else GRID)):
            n_seq = batch * n_batches
            shape = (cell, batch, steps, features, hidden, n_batches, repeats)
            timed = _rounds(rounds, torch, lambda: time_fastrnn(*shape), lambda: time_torch(torch, *shape))
            row = {"cell": cell, "batch": batch, "T": steps, "features": features, "hidden": hidden,
                   "fastrnn_train_seq_per_s": n_seq / timed["fastrnn"][0],
                   "fastrnn_infer_ms": timed["fastrnn"][1] * 1e3}
            if torch is not None:
                row.update(torch_train_seq_per_s=n_seq / timed["torch"][0], torch_infer_ms=timed["torch"][1] * 1e3,
                           train_ratio=timed["ratio"][0], infer_ratio=timed["ratio"][1])
            rows.append(row)
            out(_format_row(row))
    latency = {}
    batch, steps, features, hidden = LATENCY_SHAPE
    for cell in cells:
        shape = (cell, batch, steps, features, hidden, 1, repeats * 4)
        timed = _rounds(rounds, torch, lambda: time_fastrnn(*shape), lambda: time_torch(torch, *shape))
        infer = timed["fastrnn"][1]
        latency[cell] = {"fastrnn_ms": infer * 1e3}
        if torch is not None:
            t_infer, ratio = timed["torch"][1], timed["ratio"][1]
            latency[cell].update(torch_ms=t_infer * 1e3, ratio=ratio)
        onnx_times = [time_onnxruntime(cell, batch, steps, features, hidden, repeats * 4)
                      for _ in range(max(1, rounds))]
        if None not in onnx_times:
            latency[cell]["onnxruntime_ms"] = statistics.median(onnx_times) * 1e3
        out(f"single-sequence latency ({cell}, batch 1, T=100, 1 feature, hidden 64): {infer * 1e3:.3f} ms"
            + (f", PyTorch {t_infer * 1e3:.3f} ms, {ratio:.1f}x" if torch is not None else "")
            + (f", onnxruntime {latency[cell]['onnxruntime_ms']:.3f} ms" if "onnxruntime_ms" in latency[cell] else ""))
    compile_info = {cell: compile_times(cell) for cell in cells} if measure_compile else {}
    for cell, info in compile_info.items():
        out(f"compile ({cell}): first fit with an empty Numba cache {info['cold_first_fit_s']:.1f} s; "
            f"a second process (import + first fit + predict, kernels from the cache) {info['warm_total_s']:.1f} s")
    result = {"header": header, "cpu": model, "cores": cores, "rounds": rounds, "rows": rows, "latency": latency,
              "compile": compile_info, "n_batches_per_epoch": n_batches, "repeats": repeats}
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=1))
        out(f"saved {output}")
    return result


def _format_row(row):
    text = (f"{row['cell']:4s} {row['batch']:5d} {row['T']:4d} {row['features']:3d} {row['hidden']:4d} | "
            f"{row['fastrnn_train_seq_per_s']:11.1f} ")
    text += f"{row['torch_train_seq_per_s']:9.1f} {row['train_ratio']:5.2f}x | " if "train_ratio" in row else f"{'-':>9s} {'-':>6s} | "
    text += f"{row['fastrnn_infer_ms']:9.3f} "
    text += f"{row['torch_infer_ms']:8.3f} {row['infer_ratio']:5.2f}x" if "infer_ratio" in row else f"{'-':>8s} {'-':>6s}"
    return text
