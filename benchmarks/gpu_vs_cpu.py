"""CPU vs GPU: fastrnn's kernels on every device present, and PyTorch on the same grid when installed.

For each cell (RNN, LSTM, GRU) and each (batch, T, features, hidden) of the grid, it times one layer's
forward pass and a training step (forward + BPTT with a loss on every step) with the data and the
parameters already where the kernels run, as during an epoch of training. Warm-up calls are excluded
(they include compilation); each number is the median of ``--repeats`` runs, with the GPU
synchronized after each. PyTorch runs on the CPU (its threads set to this process's cores) and, on a
GPU machine, with cuDNN.

Run:  python benchmarks/gpu_vs_cpu.py [--quick] [--repeats N] [--output FILE]
Prints a table with the device names and saves it as JSON (default benchmarks/results/gpu_vs_cpu.json).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import fastrnn
from fastrnn._bench import cpu_description, median_time
from fastrnn._stack import stack_backward, stack_forward
from fastrnn.kernels.dispatch import cuda_usable, get_backend

GRID = [(1, 100, 1, 32), (32, 50, 16, 64), (16, 200, 8, 128), (64, 100, 64, 256), (128, 50, 32, 512)]
QUICK_GRID = [(1, 50, 1, 32), (32, 50, 16, 64)]


def time_fastrnn(cell, device, batch, steps, features, hidden, repeats):
    backend = get_backend(device)
    layer_class = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU, "rnn": fastrnn.RNN}[cell]
    layer = layer_class(features, hidden, random_state=0, device=device)
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(steps, batch, features)), np.float32)
    d_out = backend.asarray(rng.normal(size=(steps, batch, hidden)), np.float32)
    h0 = np.zeros((1, batch, hidden), np.float32)
    params = layer._backend_params(backend)
    grads = layer._views(backend.empty(layer._flat.shape, np.float32))
    synchronize = None
    if device == "cuda":
        from numba import cuda

        synchronize = cuda.synchronize

    def forward():
        return stack_forward(layer, x, h0, h0 if cell == "lstm" else None, params, backend)

    def train_step():
        stack_backward(layer, forward(), d_out, h0, h0 if cell == "lstm" else None, grads)

    return median_time(forward, repeats, synchronize), median_time(train_step, repeats, synchronize)


def time_torch(torch, cell, device, batch, steps, features, hidden, repeats):
    module_class = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    module = module_class(features, hidden, batch_first=False).to(device)
    x = torch.randn(steps, batch, features, device=device)
    d_out = torch.randn(steps, batch, hidden, device=device)
    synchronize = torch.cuda.synchronize if device == "cuda" else None

    def forward():
        with torch.no_grad():
            module(x)

    def train_step():
        module.zero_grad(set_to_none=True)
        out = module(x)[0]
        out.backward(d_out)

    return median_time(forward, repeats, synchronize), median_time(train_step, repeats, synchronize)


def device_names(torch):
    model, cores = cpu_description()
    names = {"cpu": f"{model}, {cores} cores"}
    if cuda_usable():
        from numba import cuda

        names["cuda"] = cuda.get_current_device().name.decode() if isinstance(
            cuda.get_current_device().name, bytes) else str(cuda.get_current_device().name)
    elif torch is not None and torch.cuda.is_available():
        names["cuda"] = torch.cuda.get_device_name(0)
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small grid points only")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "gpu_vs_cpu.json"))
    args = parser.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    except ImportError:
        torch = None
    devices = ["cpu"] + (["cuda"] if cuda_usable() else [])
    names = device_names(torch)
    rows = []
    for cell in args.cells.split(","):
        for batch, steps, features, hidden in (QUICK_GRID if args.quick else GRID):
            row = {"cell": cell, "batch": batch, "T": steps, "features": features, "hidden": hidden}
            for device in devices:
                row[f"fastrnn_{device}"] = time_fastrnn(cell, device, batch, steps, features, hidden, args.repeats)
            if torch is not None:
                for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
                    row[f"torch_{device}"] = time_torch(torch, cell, device, batch, steps, features, hidden,
                                                        args.repeats)
            rows.append(row)
            print_row(row)
    result = {"devices": names, "numpy": np.__version__, "fastrnn": fastrnn.__version__,
              "torch": None if torch is None else torch.__version__, "python": sys.version.split()[0],
              "date": time.strftime("%Y-%m-%d"), "unit": "seconds (median)", "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    print(f"devices: {names}; saved {args.output}")
    return result


def print_row(row):
    shape = f"{row['cell']:4s} B={row['batch']:<3d} T={row['T']:<3d} D={row['features']:<3d} H={row['hidden']:<3d}"
    cells = []
    for key in sorted(k for k in row if k.startswith(("fastrnn_", "torch_"))):
        forward, train = row[key]
        cells.append(f"{key}: fwd {forward * 1e3:8.2f} ms  train {train * 1e3:8.2f} ms")
    print(shape + " | " + " | ".join(cells))
    if "fastrnn_cuda" in row:
        print(f"{'':38s} train speed-up GPU/CPU (fastrnn): {row['fastrnn_cpu'][1] / row['fastrnn_cuda'][1]:.2f}x")


if __name__ == "__main__":
    main()
