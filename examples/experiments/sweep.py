"""Run the training pipeline with a few learning rates under one tag, then compare the runs.

    python examples/experiments/sweep.py                 # from the repository's root folder
    python examples/experiments/sweep.py --tag my-sweep --lr 0.05 0.5 --epochs 20

Each run is `magnus execute --file examples/experiments/pipeline.yaml --tag TAG --lr LR`; then
`magnus compare --tag TAG` prints the table and `--plot-history metrics.loss` the loss curves.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

PIPELINE = "examples/experiments/pipeline.yaml"


def magnus(*args: str) -> int:
    # `python -m magnus_core` is the `magnus` command, found whether or not the package is installed
    return subprocess.call([sys.executable, "-m", "magnus_core", *args])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="lr-sweep")
    parser.add_argument("--lr", type=float, nargs="+", default=[0.01, 0.1, 0.5, 2.0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--no-plot", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    for lr in args.lr:
        code = magnus(
            "execute", "--file", PIPELINE, "--tag", args.tag, "--lr", str(lr), "--epochs", str(args.epochs)
        )
        if code not in (0, 1):  # a failed run is still a run to compare; a usage error is not
            return code
    code = magnus("compare", "--tag", args.tag)
    if code == 0 and not args.no_plot:
        code = magnus("compare", "--tag", args.tag, "--plot-history", "metrics.loss")
    return code


if __name__ == "__main__":
    sys.exit(main())
