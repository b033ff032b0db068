"""Command line: ``python -m fastrnn demo``."""

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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run

        run(max_iter=args.max_iter, seed=args.seed, plot_path=None if args.plot == "none" else args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
