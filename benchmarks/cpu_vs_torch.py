"""fastrnn against PyTorch on this CPU: training throughput, inference, latency and compile times, and
both libraries' achieved GFLOP/s against this machine's sgemm rate measured in the same run (roofline).

The same as ``python -m fastrnn bench``; see :mod:`fastrnn._bench` for what is timed and how.

Run:  python benchmarks/cpu_vs_torch.py [--quick] [--repeats N] [--batches N] [--rounds N] [--cells rnn,lstm,gru]
Saves benchmarks/results/cpu_vs_torch.json.
"""

import sys
from pathlib import Path

from fastrnn.__main__ import main

if __name__ == "__main__":
    default_output = str(Path(__file__).parent / "results" / "cpu_vs_torch.json")
    arguments = sys.argv[1:]
    if "--output" not in arguments:
        arguments += ["--output", default_output]
    sys.exit(main(["bench"] + arguments))
