"""``python -m fastrnn bench``: fastrnn against PyTorch on the CPU, in the same process, on the same data.

For each cell and each (batch, T, features, hidden) of the grid:

- **train**: one epoch of ``--batches`` mini-batches, many-to-one regression: fastrnn's
  ``RNNRegressor.partial_fit`` (forward, BPTT, Adam, clipping off) against ``torch.nn.LSTM``/``GRU``/``RNN`` +
  ``Linear`` + ``torch.optim.Adam`` with the same loss, data and threads. Reported as sequences/s.
- **inference**: ``predict`` on one batch against the PyTorch module under ``no_grad``.

Each timed block starts after a short pause (idle threads of the other library stop spinning) and
untimed warm-up calls, at least two and for at least 0.2 s; times are medians over ``--repeats``.
Also reported: the single-sequence latency (batch 1, T=100, 1 feature, hidden 64; onnxruntime's too,
running the graph of :func:`fastrnn.onnx.export`, when onnx and onnxruntime are installed), the
first fit in a process with an empty Numba cache (compilation included), and the first prediction of
a second process that loads the cache. The table names the machine and library versions and is saved
as JSON.

**Roofline.** The same run measures this machine's float32 matrix-product (sgemm) rate through the
BLAS path of the kernels (Numba's ``np.dot``, which calls scipy's OpenBLAS), on the benchmark's
threads: a large product (1024 x 1024 x 1024) before the grid, at each point and after the grid,
whose best rate is the machine's ceiling (a low one flags another process on the cores then), and at
each point the products of that point's sizes (a step's recurrent, input and backward products, a
chunk's weight gradient). :func:`matmul_flops` counts the floating-point operations of each timed
call (forward, BPTT and optimizer update; 2 per multiply-add); divided by the measured times they
give each library's achieved GFLOP/s, and divided by the ceiling, its share of the machine's sgemm
rate (``%sgemm``, printed in a second table once the ceiling is known).
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
from numba import njit

from .kernels.cache import drop_stale_cache
from .kernels.cpu import linalg
from .kernels.cpu.blas_threads import blas_threads

drop_stale_cache(__file__, [linalg.__file__])  # _repeat_products's cached code holds linalg.matmul

GRID = [(1, 100, 1, 32), (32, 50, 16, 64), (16, 200, 8, 128), (64, 100, 64, 256), (128, 50, 32, 512)]
QUICK_GRID = [(1, 100, 1, 32), (32, 50, 16, 64)]
LATENCY_SHAPE = (1, 100, 1, 64)
#: gate blocks of each cell's weights (the G in G*H gate units)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
#: multiply-adds of an Adam update per parameter, as counted by :func:`matmul_flops`: the two moment
#: updates and the step (about 10 floating-point operations; not a product, and a fraction of a percent)
ADAM_MULTIPLY_ADDS = 5
#: edge of the large square product whose rate is the machine's sgemm ceiling
LARGE_PRODUCT = 1024
#: seconds each timed block pauses first, so that the worker threads of the library timed before it
#: (PyTorch's OpenMP pool, OpenBLAS's) go idle and stop spinning on the cores
PAUSE_SECONDS = 0.3
#: least seconds of warm-up calls after the pause: the first calls after an idle spell can run far
#: slower than the rest (on the 2-core development VM the host ran both vCPUs on one core for tens of
#: milliseconds after such a pause: two threads of pure arithmetic took twice their time for ~50 calls),
#: and the repeats time the calls of a process that is busy, not one waking up
WARMUP_SECONDS = 0.2


def matmul_flops(cell, batch, steps, features, hidden, n_outputs=1, train=True, input_gradient=False):
    """Floating-point operations of one mini-batch of a one-layer many-to-one network: its matrix
    products (2 FLOP per multiply-add) and, in training, the optimizer's update.

    With G gate blocks (:data:`GATES`: 1 rnn, 3 gru, 4 lstm), batch B, T steps, D features, H hidden
    units and O outputs, the multiply-adds are::

        forward   F = T*B*G*H*(D + H) + B*H*O          input projection, recurrent product, head
        BPTT      2*T*B*G*H*H + T*B*G*H*D              dh through W_hh, dW_hh, dW_ih
                  [+ T*B*G*H*D with input_gradient]     dx, which neither library computes for data
                  + 2*B*H*O                             head: dW and dh_T
        update    ADAM_MULTIPLY_ADDS * P,  P = G*H*(D + H + 2) + O*(H + 1) parameters

    so BPTT is about twice the forward. Returns 2 * F for ``train=False`` (a prediction), else
    2 * (forward + BPTT + update). Pointwise work (gates, activations, bias sums, the loss) is not
    counted: the count is what a matrix-product roofline can be held against.
    """
    gate_units = GATES[cell] * hidden
    forward = steps * batch * gate_units * (features + hidden) + batch * hidden * n_outputs
    if not train:
        return 2 * forward
    bptt = steps * batch * gate_units * (2 * hidden + features * (2 if input_gradient else 1)) \
        + 2 * batch * hidden * n_outputs
    parameters = gate_units * (features + hidden + 2) + n_outputs * (hidden + 1)
    return 2 * (forward + bptt + ADAM_MULTIPLY_ADDS * parameters)


@njit(cache=True, nogil=True)
def _repeat_products(a, b, out, trans_a, trans_b, calls):
    for _ in range(calls):
        linalg.matmul(a, b, out, trans_a, trans_b)


class _BlasThreads:
    """Within the block, scipy's OpenBLAS (the BLAS of Numba's ``np.dot``) on ``n`` threads; the count
    from before comes back after it. Nothing changes where that library cannot be controlled."""

    def __init__(self, n):
        self.n, self.control, self.previous = n, blas_threads(), None

    def __enter__(self):
        if self.control is not None:
            self.previous = self.control.get()
            self.control.set(self.n)
        return self

    def __exit__(self, *exc):
        if self.control is not None:
            self.control.set(self.previous)


def product_rate(m, k, n, trans_a=False, trans_b=False, repeats=5, min_multiply_adds=50_000_000):
    """GFLOP/s (2 per multiply-add) of the float32 product ``out (m x n) = op(a) @ op(b)`` (inner size
    ``k``), through the kernels' path (:func:`fastrnn.kernels.cpu.linalg.matmul`, Numba's ``np.dot``).

    Each timed call runs the product back to back inside one compiled loop, enough times for
    ``min_multiply_adds`` (no Python overhead between products, as in the kernels' time loops); the
    median of ``repeats`` calls, after a warm-up. The caller sets the threads.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    calls = int(max(1, min(100_000, -(-min_multiply_adds // (m * k * n)))))
    _repeat_products(a, b, out, trans_a, trans_b, calls)  # compilation (cached), caches, pages
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _repeat_products(a, b, out, trans_a, trans_b, calls)
        times.append(time.perf_counter() - start)
    return 2 * m * k * n * calls / statistics.median(times) / 1e9


def large_product_rate(threads, tries=5, repeats=3):
    """GFLOP/s of the :data:`LARGE_PRODUCT`-cubed float32 product on ``threads`` BLAS threads: the best
    of ``tries`` medians of ``repeats`` products taken 0.2 s apart, and the list of them.

    The best, not the median: a product spread over every core loses most of its speed while another
    process holds one of them (measured on the 2-core development machine: 50-90 GFLOP/s instead of
    ~300 for two threads), and the ceiling is what the machine does unhindered.
    """
    rates = []
    with _BlasThreads(threads):
        time.sleep(PAUSE_SECONDS)  # the other library's idle threads stop spinning
        for _ in range(tries):
            rates.append(product_rate(LARGE_PRODUCT, LARGE_PRODUCT, LARGE_PRODUCT, repeats=repeats))
            time.sleep(0.2)
    return max(rates), rates


def point_product_rates(cell, batch, steps, features, hidden, threads, repeats=5):
    """GFLOP/s of the large product (``large_gflops``: :func:`large_product_rate`, best of 3, and its
    tries) and of the products of one grid point's sizes, on ``threads`` BLAS threads, with their
    shapes (m, k, n):

    - ``step``: a step's recurrent product, (B x H) @ (H x G*H);
    - ``step_input``: a step's input projection, (B x D) @ (D x G*H);
    - ``step_backward``: a BPTT step's product into dh, (B x G*H) @ (G*H x H);
    - ``weight_gradient``: dW_hh of one chunk of step rows, (G*H x R) @ (R x H) with R = min(T*B,
      max(128, H)) rows (the chunks of the backward pass).
    """
    gate_units = GATES[cell] * hidden
    chunk = min(steps * batch, max(128, hidden))
    shapes = {"step": (batch, hidden, gate_units, False), "step_input": (batch, features, gate_units, False),
              "step_backward": (batch, gate_units, hidden, False),
              "weight_gradient": (gate_units, chunk, hidden, True)}
    best, tries = large_product_rate(threads, tries=3)
    rates = {"large_gflops": best, "large_tries_gflops": tries}
    with _BlasThreads(threads):
        for name, (m, k, n, trans_a) in shapes.items():
            rates[f"{name}_gflops"] = product_rate(m, k, n, trans_a=trans_a, repeats=repeats)
    rates["shapes"] = {name: list(shape[:3]) for name, shape in shapes.items()}
    return rates


def blas_description():
    """scipy's OpenBLAS as Numba calls it: its file and build (``get_config``), or Nones."""
    control = blas_threads()
    if control is None:
        return {"library": None, "config": None}
    import ctypes

    config = None
    try:
        library = ctypes.CDLL(control.path)
        for name in ("scipy_openblas_get_config64_", "scipy_openblas_get_config", "openblas_get_config64_",
                     "openblas_get_config"):
            if hasattr(library, name):
                function = getattr(library, name)
                function.restype = ctypes.c_char_p
                config = function().decode()
                break
    except OSError:
        pass
    return {"library": os.path.basename(control.path), "config": config}


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
    """Median wall time of ``function`` over ``repeats`` calls, after a pause and a warm-up.

    The pause (:data:`PAUSE_SECONDS`) lets the worker threads of the library timed before stop
    spinning, so that the two libraries, alternating in one process on few cores, do not slow each
    other down. The untimed warm-up calls (at least two, for at least :data:`WARMUP_SECONDS` in all)
    compile, fill the caches and the allocator, and let the machine settle after the pause, for both
    libraries alike. ``synchronize`` (for example ``cuda.synchronize``) runs after each call, warm-up
    included, so that asynchronous GPU work is counted where it was launched.
    """
    time.sleep(PAUSE_SECONDS)
    warm_until = time.perf_counter() + WARMUP_SECONDS
    calls = 0
    while calls < 2 or time.perf_counter() < warm_until:
        function()
        if synchronize is not None:
            synchronize()
        calls += 1
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

    X, y = _data(batch, steps, features, n_batches)
    model = RNNRegressor(cell=cell, hidden_sizes=(hidden,), batch_size=batch, shuffle=False, clip_grad_norm=None,
                         alpha=0.0, learning_rate_init=1e-4, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning, without importing scikit-learn
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

    X, y = _data(batch, steps, features, 4)
    model = RNNRegressor(cell=cell, hidden_sizes=(hidden,), max_iter=1, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning, without importing scikit-learn
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
    import json, sys, time
    start = time.perf_counter()
    import numpy as np
    import fastrnn
    imported = time.perf_counter()
    X = np.random.default_rng(0).normal(size=(8, 10, 2)).astype(np.float32)
    model = fastrnn.RNNRegressor(cell="{cell}", hidden_sizes=(8,), max_iter=1, device="cpu").fit(X, X[:, -1, 0])
    fitted = time.perf_counter()
    model.predict(X)
    model.predict(X[:1])
    predicted = time.perf_counter()
    from fastrnn._bench import compiled_kernels
    print(json.dumps({{"import_s": imported - start, "first_fit_s": fitted - imported,
                      "first_predict_s": predicted - fitted, "kernels": compiled_kernels()}}))
""")


def compiled_kernels():
    """Seconds each kernel of fastrnn took to compile in this process, ``{"module.name[cell code]":
    seconds}`` summed over its signatures, largest first: Numba's own timer of each compilation (its
    ``compiler_lock`` time, which includes LLVM's). Kernels loaded from the cache are not listed."""
    from numba.core.registry import CPUDispatcher

    from .kernels.cells.per_cell import PerCell

    seconds = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("fastrnn") or module is None:
            continue
        for name, value in list(vars(module).items()):
            found = []  # each kernel under the module that defines it, not every module importing it
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module_name:
                found = [(f"{module_name}.{name}", value)]
            if isinstance(value, PerCell) and value.make.__module__ == module_name:
                found = [(f"{module_name}.{name}[{kind}]", function) for kind, function in value.made.items()]
            for label, dispatcher in found:
                total = sum((overload.metadata or {}).get("timers", {}).get("compiler_lock", 0.0)
                            for overload in dispatcher.overloads.values())
                if total > 0:
                    seconds[label.replace("fastrnn.kernels.", "")] = total
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def compile_times(cell):
    """Seconds of a first fit (and a first prediction) with an empty Numba cache, of the same in a
    second process that loads the kernels from the cache, and each kernel's compile seconds in the
    first (:func:`compiled_kernels`)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        code = _COLD_START.format(cell=cell)

        def run():
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        cold = run()
        warm = run()
    return {"cold_import_s": cold["import_s"], "cold_first_fit_s": cold["first_fit_s"],
            "cold_first_predict_s": cold["first_predict_s"], "kernel_compile_s": cold["kernels"],
            "warm_import_s": warm["import_s"], "warm_first_fit_s": warm["first_fit_s"],
            "warm_total_s": warm["import_s"] + warm["first_fit_s"] + warm["first_predict_s"]}


def run(quick=False, repeats=5, n_batches=4, cells=("rnn", "lstm", "gru"), output=None, out=print, grid=None,
        measure_compile=True, rounds=1):
    """Run the benchmark; print the table; return (and save) the results as a dict.

    ``grid`` overrides the (batch, T, features, hidden) points; ``measure_compile=False`` skips the
    cold-start processes (about 10 s each). ``rounds``: how many times each point alternates between
    fastrnn and PyTorch; every reported number is the median over the rounds, each ratio the median
    of the rounds' own ratios (both sides of a round are timed seconds apart, so a drift of the
    machine's speed between rounds cancels out of them).

    Roofline fields (module docstring): ``result["sgemm"]`` (the machine's large-product rate and how
    it was measured, the BLAS build; ``large_gflops`` is the best of the run); per row ``train_gflop_per_epoch`` and ``infer_gflop``
    (:func:`matmul_flops`), ``{fastrnn,torch}_{train,infer}_gflops`` and ``..._sgemm_share`` (of
    ``result["sgemm"]["large_gflops"]``), and ``sgemm`` (:func:`point_product_rates`).
    """
    try:
        import torch

        torch.set_num_threads(_cores())
    except ImportError:
        torch = None
    from . import __version__

    model, cores = cpu_description()
    import numba

    import scipy

    date = time.strftime("%Y-%m-%d")
    versions = {"fastrnn": __version__, "torch": torch.__version__ if torch else None, "numba": numba.__version__,
                "numpy": np.__version__, "scipy": scipy.__version__, "python": platform.python_version()}
    blas = blas_description()
    start_best, start_tries = large_product_rate(cores)
    header = (f"fastrnn {__version__} vs PyTorch {torch.__version__ if torch else '(not installed)'} on {model}, "
              f"{cores} cores; numba {numba.__version__}, numpy {np.__version__}; {date}")
    out(header)
    out(f"{'cell':4s} {'batch':>5s} {'T':>4s} {'D':>3s} {'H':>4s} | {'train seq/s':>11s} {'torch':>9s} {'ratio':>6s} | "
        f"{'infer ms':>9s} {'torch':>8s} {'ratio':>6s} | {'train GF/s':>10s} {'torch':>6s} | {'infer GF/s':>10s} "
        f"{'torch':>6s} | {'sgemm':>5s} {'step':>5s}")
    rows = []
    for cell in cells:
        for batch, steps, features, hidden in (grid or (QUICK_GRID if quick else GRID)):
            n_seq = batch * n_batches
            rates = point_product_rates(cell, batch, steps, features, hidden, cores)
            shape = (cell, batch, steps, features, hidden, n_batches, repeats)
            timed = _rounds(rounds, torch, lambda: time_fastrnn(*shape), lambda: time_torch(torch, *shape))
            train_flop = n_batches * matmul_flops(cell, batch, steps, features, hidden)
            infer_flop = matmul_flops(cell, batch, steps, features, hidden, train=False)
            row = {"cell": cell, "batch": batch, "T": steps, "features": features, "hidden": hidden,
                   "fastrnn_train_seq_per_s": n_seq / timed["fastrnn"][0],
                   "fastrnn_infer_ms": timed["fastrnn"][1] * 1e3,
                   "train_gflop_per_epoch": train_flop / 1e9, "infer_gflop": infer_flop / 1e9, "sgemm": rates}
            sides = [("fastrnn", timed["fastrnn"])]
            if torch is not None:
                row.update(torch_train_seq_per_s=n_seq / timed["torch"][0], torch_infer_ms=timed["torch"][1] * 1e3,
                           train_ratio=timed["ratio"][0], infer_ratio=timed["ratio"][1])
                sides.append(("torch", timed["torch"]))
            for side, (train_s, infer_s) in sides:
                row[f"{side}_train_gflops"] = train_flop / train_s / 1e9
                row[f"{side}_infer_gflops"] = infer_flop / infer_s / 1e9
            rows.append(row)
            out(_format_row(row))
    end_best, end_tries = large_product_rate(cores, tries=3)
    measured = start_tries + [rate for row in rows for rate in row["sgemm"]["large_tries_gflops"]] + end_tries
    roofline = max(measured)
    sgemm = {"large_gflops": roofline, "start_tries_gflops": start_tries, "end_tries_gflops": end_tries,
             "n_measurements": len(measured), "shape": [LARGE_PRODUCT] * 3, "dtype": "float32", "threads": cores,
             "path": "numba np.dot (fastrnn.kernels.cpu.linalg.matmul) -> scipy's OpenBLAS", **blas,
             "flop_count": "2 FLOP per multiply-add; rows' *_gflops: fastrnn._bench.matmul_flops over the measured "
                           "time; *_sgemm_share: that over large_gflops, the best large-product rate of the run "
                           "(before the grid, at each point (rows' sgemm.large_tries_gflops), after it)"}
    for row in rows:
        for side in ("fastrnn", "torch") if torch is not None else ("fastrnn",):
            for kind in ("train", "infer"):
                row[f"{side}_{kind}_sgemm_share"] = row[f"{side}_{kind}_gflops"] / roofline
    out(f"roofline: sgemm {LARGE_PRODUCT}^3 float32 on {cores} threads ({blas['config'] or 'BLAS unknown'}), "
        f"best of {len(measured)} in this run: {roofline:.0f} GFLOP/s (range {min(measured):.0f}-{roofline:.0f}); "
        f"%sgemm = achieved GFLOP/s / {roofline:.0f}")
    out(f"{'cell':4s} {'batch':>5s} {'T':>4s} {'D':>3s} {'H':>4s} | {'train %sgemm':>12s} {'torch':>6s} | "
        f"{'infer %sgemm':>12s} {'torch':>6s} | {'step %sgemm':>11s}")
    for row in rows:
        out(_format_roofline_row(row, roofline))
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
        out(f"compile ({cell}): first fit with an empty Numba cache {info['cold_first_fit_s']:.1f} s, first predictions "
            f"{info['cold_first_predict_s']:.1f} s; a second process (import + first fit + predictions, kernels from "
            f"the cache) {info['warm_total_s']:.1f} s")
        out("  compile seconds per kernel: " + ", ".join(f"{name} {seconds:.2f}" for name, seconds
                                                        in info["kernel_compile_s"].items() if seconds >= 0.05))
    result = {"header": header, "date": date, "cpu": model, "cores": cores, "versions": versions, "sgemm": sgemm,
              "rounds": rounds, "rows": rows, "latency": latency, "compile": compile_info,
              "n_batches_per_epoch": n_batches, "repeats": repeats}
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
    for kind in ("train", "infer"):
        torch_gflops = row.get(f"torch_{kind}_gflops")
        text += f" | {row[f'fastrnn_{kind}_gflops']:10.1f} " + (f"{torch_gflops:6.1f}" if torch_gflops else f"{'-':>6s}")
    return text + f" | {row['sgemm']['large_gflops']:5.0f} {row['sgemm']['step_gflops']:5.1f}"


def _format_roofline_row(row, roofline):
    text = f"{row['cell']:4s} {row['batch']:5d} {row['T']:4d} {row['features']:3d} {row['hidden']:4d}"
    for kind in ("train", "infer"):
        torch_share = row.get(f"torch_{kind}_sgemm_share")
        text += (f" | {row[f'fastrnn_{kind}_sgemm_share']:12.1%} "
                 + (f"{torch_share:6.1%}" if torch_share is not None else f"{'-':>6s}"))
    return text + f" | {row['sgemm']['step_gflops'] / roofline:11.1%}"
