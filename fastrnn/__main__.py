"""Command line: ``python -m fastrnn demo``."""

import argparse
import sys


def main(argv=None):
    """Entry point of ``python -m fastrnn`` and of the ``fastrnn`` script."""
    parser = argparse.ArgumentParser(prog="python -m fastrnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a small LSTM forecaster and print the loss falling")
    demo.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run

        run(epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
