"""Compare early-stopping rules, as the chapter's problem asks: three runs of
no-improvement-in-10 and three of the gain-rate rule (best validation
accuracy must rise by at least GAIN over the last WINDOW epochs), plus, for
reference, the same runs trained for the full epoch budget without stopping.

The runs are those of the reproduction experiment ``early_stopping``
(``nndl.experiments.early_stopping``, where the setting is described:
[784, 30, 10] on the first 10,000 MNIST training images, at most 150
epochs); this script only picks the seeds and the gain rule's parameters and
prints a Markdown table (docs/early_stopping.md holds one run of it).

    NNDL_DATA=... python scripts/early_stopping_comparison.py [--window 5] [--gain 0.002]
"""

import argparse

from nndl.data import load_mnist
from nndl.experiments.early_stopping import MAX_EPOCHS, TRAIN_SIZE, compare, rules


def main():
    """Run every rule for seeds 1-3 and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--gain", type=float, default=0.002)
    args = parser.parse_args()
    splits = load_mnist(quiet=True)
    named = rules(args.window, args.gain)
    runs = compare(splits.training.subset(TRAIN_SIZE), splits.validation, (1, 2, 3), named)
    print("| rule | seed | epochs trained | best epoch | best validation accuracy | seconds |")
    print("|---|---|---|---|---|---|")
    for name, records in runs.items():
        label = f"none ({MAX_EPOCHS} epochs)" if name == "none" else name
        for seed, r in zip((1, 2, 3), records):
            print(f"| {label} | {seed} | {r['epochs']} | {r['best_epoch']} | "
                  f"{r['best_validation']:.2%} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
