"""Command line: ``python -m fastrnn demo`` and ``python -m fastrnn bench``."""

import argparse
import sys


def main(argv=None):
    """Entry point of ``python -m fastrnn`` and of the ``fastrnn`` script."""
    parser = argparse.ArgumentParser(prog="python -m fastrnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="forecast the airline passengers with an LSTM, against baselines")
    demo.add_argument("--max-iter", type=int, default=300, help="epoch limit (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the model (default 0)")
    demo.add_argument("--plot", default="fastrnn_demo.png",
                      help="where to save the forecast plot (default fastrnn_demo.png; 'none' skips it)")
    bench = commands.add_parser("bench", help="time fastrnn against PyTorch on this CPU and save the table")
    bench.add_argument("--quick", action="store_true", help="two small grid points only")
    bench.add_argument("--repeats", type=int, default=5, help="timed repeats per point (median)")
    bench.add_argument("--batches", type=int, default=4, help="mini-batches per training epoch")
    bench.add_argument("--rounds", type=int, default=1,
                       help="alternate fastrnn and PyTorch this many times per point; report the median round "
                            "(steadier ratios on a machine whose speed drifts)")
    bench.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cells (default rnn,lstm,gru)")
    bench.add_argument("--output", default="fastrnn_bench.json", help="where to save the JSON results")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run

        run(max_iter=args.max_iter, seed=args.seed, plot_path=None if args.plot == "none" else args.plot)
    elif args.command == "bench":
        from ._bench import run as run_bench

        run_bench(quick=args.quick, repeats=args.repeats, n_batches=args.batches, cells=tuple(args.cells.split(",")),
                  output=args.output, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
