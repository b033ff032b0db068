"""Streaming inference: microseconds per step, fastrnn's stream against a PyTorch cell loop.

For each cell (LSTM, GRU, Elman RNN with tanh) and hidden size H in (32, 64, 128), one layer, one
feature, one output, float32, one stream:

- **fastrnn**: ``stream = model.stream()``; ``y = stream.step(x_t)`` per step, ``x_t`` a (1, 1)
  float32 array (the call from Python included: input check, one compiled call for the layer and
  the head, the output array);
- **torch**: ``torch.nn.LSTMCell`` / ``GRUCell`` / ``RNNCell`` with the same weights, then the same
  ``torch.nn.Linear`` head, called from Python one step at a time under ``torch.no_grad()``
  (``h, c = cell(x_t, (h, c)); y = head(h)``), ``x_t`` a (1, 1) tensor; also the cell alone.

The inputs are drawn once and handed out from a list, so that indexing costs neither library. This
VM's speed drifts by up to 30 % within minutes: the libraries alternate within each round (the order
flips every round), each round times ``--steps`` steps of each, and the numbers are medians over the
rounds (the speed-up: the median of the rounds' own ratios). The outputs of the two libraries are
compared on the timed steps (largest absolute difference). The load average before and after is
recorded: other processes on the 2 cores slow both sides.

Run:  python benchmarks/streaming.py [--rounds N] [--steps N] [--torch-threads N] [--quick]
Saves benchmarks/results/streaming.json (``--output`` to change). PyTorch is optional: without it
only fastrnn is timed.
"""

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

import fastrnn
from fastrnn._bench import cpu_description

try:
    import torch
except ImportError:  # the benchmark still times fastrnn
    torch = None

CELLS = ("lstm", "gru", "rnn")
HIDDEN_SIZES = (32, 64, 128)


def fitted_model(cell, hidden, seed=0):
    """A one-layer, one-feature regressor (an epoch on random data: weights away from their draw)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(32, 20, 1)).astype(np.float32)
    model = fastrnn.RNNRegressor(cell=cell, hidden_sizes=(hidden,), max_iter=1, random_state=seed, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, X[:, -5:, 0].mean(axis=1))


def torch_modules(model):
    """The model's layer and head as a ``torch.nn`` cell and ``Linear`` with the same weights."""
    layer, head = model.network_.layers[0], model.network_.head
    make = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell, "rnn": torch.nn.RNNCell}[model.cell]
    cell = make(layer.input_size, layer.hidden_size)
    linear = torch.nn.Linear(head.in_features, head.out_features)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(torch.from_numpy(layer.params[f"{name}_l0"]))
        linear.weight.copy_(torch.from_numpy(head.params["weight"]))
        linear.bias.copy_(torch.from_numpy(head.params["bias"]))
    return cell.eval(), linear.eval()


def time_fastrnn(stream, inputs):
    """Seconds per step of ``stream.step`` over ``inputs`` (from a reset state), and the outputs."""
    stream.reset()
    outputs = [None] * len(inputs)
    step = stream.step
    start = time.perf_counter()
    for t, x_t in enumerate(inputs):
        outputs[t] = step(x_t)
    elapsed = time.perf_counter() - start
    return elapsed / len(inputs), outputs


def time_torch(cell, linear, has_cell_state, inputs, with_head=True):
    """Seconds per step of the PyTorch loop over ``inputs`` (from zero states), and the outputs."""
    hidden = cell.hidden_size
    outputs = [None] * len(inputs)
    with torch.no_grad():
        h = torch.zeros(1, hidden)
        c = torch.zeros(1, hidden)
        start = time.perf_counter()
        if has_cell_state:
            for t, x_t in enumerate(inputs):
                h, c = cell(x_t, (h, c))
                outputs[t] = linear(h) if with_head else h
        else:
            for t, x_t in enumerate(inputs):
                h = cell(x_t, h)
                outputs[t] = linear(h) if with_head else h
        elapsed = time.perf_counter() - start
    return elapsed / len(inputs), outputs


def run(rounds=21, steps=2000, cells=CELLS, hidden_sizes=HIDDEN_SIZES, output=None, out=print):
    """Time every (cell, H) point; returns the result dict (also written to ``output`` as JSON)."""
    model_name, cores = cpu_description()
    import numba
    import scipy

    versions = {"fastrnn": fastrnn.__version__, "torch": torch.__version__ if torch else None,
                "numba": numba.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                "python": platform.python_version()}
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    out(f"streaming, us per step (median of {rounds} rounds of {steps} steps), one stream, one feature, "
        f"float32; {model_name}, {cores} cores; torch {versions['torch']} ({torch.get_num_threads() if torch else '-'} "
        f"threads), numba {numba.__version__}")
    out(f"{'cell':>5} {'H':>4} {'fastrnn':>8} {'torch':>8} {'cell only':>9} {'speed-up':>8} {'max |diff|':>10}")
    rows = []
    wall = time.perf_counter()
    for cell in cells:
        for hidden in hidden_sizes:
            model = fitted_model(cell, hidden)
            stream = model.stream()
            x = np.random.default_rng(1).normal(size=(steps, 1, 1)).astype(np.float32)
            ours_inputs = list(x)  # (1, 1) float32 arrays
            time_fastrnn(stream, ours_inputs[:200])  # warm-up (compilation or cache load)
            ours, theirs, bare, ratios = [], [], [], []
            difference = None
            if torch is not None:
                modules = torch_modules(model)
                has_c = cell == "lstm"
                torch_inputs = list(torch.from_numpy(x))
                time_torch(*modules, has_c, torch_inputs[:200])
            for r in range(rounds):
                order = (0, 1) if r % 2 == 0 else (1, 0)
                for side in order:
                    if side == 0:
                        seconds, ours_out = time_fastrnn(stream, ours_inputs)
                        ours.append(seconds)
                    elif torch is not None:
                        seconds, torch_out = time_torch(*modules, has_c, torch_inputs)
                        theirs.append(seconds)
                        bare.append(time_torch(*modules, has_c, torch_inputs, with_head=False)[0])
                if torch is not None:
                    ratios.append(theirs[-1] / ours[-1])
            row = {"cell": cell, "hidden": hidden, "fastrnn_us": statistics.median(ours) * 1e6}
            if torch is not None:
                difference = float(np.max(np.abs(np.concatenate(ours_out) -
                                                 torch.cat(torch_out).numpy().reshape(-1).astype(np.float64))))
                row.update(torch_us=statistics.median(theirs) * 1e6, torch_cell_only_us=statistics.median(bare) * 1e6,
                           speedup=statistics.median(ratios), max_abs_difference=difference)
            rows.append(row)
            out(f"{cell:>5} {hidden:>4} {row['fastrnn_us']:8.2f} {row.get('torch_us', float('nan')):8.2f} "
                f"{row.get('torch_cell_only_us', float('nan')):9.2f} {row.get('speedup', float('nan')):8.2f} "
                f"{difference if difference is not None else float('nan'):10.1e}")
    result = {
        "benchmark": "streaming inference, us per step from Python",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": model_name, "cores": cores, "platform": platform.platform(),
                    "load_average_before": load_before,
                    "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "versions": versions,
        "configuration": {"rounds": rounds, "steps_per_round": steps, "n_streams": 1, "n_features": 1,
                          "n_outputs": 1, "layers": 1, "dtype": "float32",
                          "torch_threads": torch.get_num_threads() if torch else None,
                          "fastrnn": "model.stream().step(x_t), x_t a (1, 1) float32 array; returns (1,) float64",
                          "torch": "cell(x_t, state) then Linear head under torch.no_grad(), x_t a (1, 1) tensor; "
                                   "torch_cell_only_us without the head",
                          "statistic": "median over rounds; speedup = median over rounds of torch_us / fastrnn_us"},
        "results": rows,
        "wall_s": time.perf_counter() - wall,
        "unit": "microseconds per step",
    }
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="LSTM at H=64 only, 5 rounds")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads before timing (default: PyTorch's own choice)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "streaming.json"))
    args = parser.parse_args(argv)
    if args.torch_threads is not None and torch is not None:
        torch.set_num_threads(args.torch_threads)
    if args.quick:
        run(rounds=5, steps=args.steps, cells=("lstm",), hidden_sizes=(64,), output=args.output)
    else:
        run(rounds=args.rounds, steps=args.steps, output=args.output)


if __name__ == "__main__":
    main()
