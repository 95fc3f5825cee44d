"""Summarise a training run from its metrics JSON (``nndl train --metrics-out``):
the validation accuracy reached after given minutes of wall-clock time and the
final test accuracy, when it first reached 99.0% and 99.3% (``--reach``), and,
for a run with ``--average-from``, the averaged weights' validation accuracy;
``--plot`` also draws its learning curves with
``nndl.plot`` (as ``nndl plot`` does).

    python scripts/run_summary.py docs/results/best.json --plot docs/results/best.png

"After M minutes" is the last epoch that had finished (monitoring included)
M minutes after the command started; ``wall_seconds`` in each epoch's entry
is that clock (``nndl.callbacks.WallClock``).
"""

import argparse
import json
from pathlib import Path

from nndl.plot import check_plot_path, plot_runs


def accuracy_after(epochs, seconds):
    """Return (epoch number, validation accuracy) of the last epoch finished
    within ``seconds`` of the start, or None if none had."""
    done = [e for e in epochs if e["wall_seconds"] <= seconds]
    if not done:
        return None
    return done[-1]["epoch"] + 1, done[-1]["evaluation_accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", type=Path)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 10, 20, 30])
    ap.add_argument("--reach", type=float, nargs="+", default=[99.0, 99.3],
                    help="report when validation accuracy first reached these percentages")
    ap.add_argument("--plot", type=Path, help="write the learning curves here (.png or .svg)")
    args = ap.parse_args()
    if args.plot:
        check_plot_path(args.plot)
    doc = json.loads(args.metrics.read_text())
    epochs = doc["epochs"]
    for minutes in args.minutes:
        reached = accuracy_after(epochs, minutes * 60)
        text = (f"epoch {reached[0]:>3}: validation accuracy {reached[1]:.2%}" if reached
                else "no epoch finished yet")
        print(f"after {minutes:>4g} min  {text}")
    for percent in args.reach:
        first = next((e for e in epochs if e["evaluation_accuracy"] >= percent / 100), None)
        print(f"{percent:.1f}% validation accuracy: " + (
            f"epoch {first['epoch'] + 1}, {first['wall_seconds'] / 60:.1f} min" if first
            else "not reached"))
    last = epochs[-1]
    best = max(epochs, key=lambda e: e["evaluation_accuracy"])
    print(f"all {len(epochs)} epochs: {last['wall_seconds'] / 60:.1f} min; "
          f"validation accuracy {last['evaluation_accuracy']:.2%} at the end, "
          f"best {best['evaluation_accuracy']:.2%} (epoch {best['epoch'] + 1})")
    averaged = doc.get("weights_averaged")
    if averaged and averaged["epochs"]:
        print(f"weights: the mean of epochs {averaged['from_epoch']}-"
              f"{averaged['from_epoch'] + averaged['epochs'] - 1}, validation accuracy "
              f"{averaged['evaluation_accuracy']:.2%}")
    print(f"test accuracy (measured once, at the end): {doc['test_accuracy']:.2%}")
    if args.plot:
        plot_runs([doc], args.plot, labels=[args.metrics.stem])
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
