"""Figures for docs/expansion.md (needs matplotlib: pip install -e '.[plots]').

    plot_expansion.py accuracy PLAIN.json EXPANDED.json OUT.png [LABEL ...]
        validation accuracy per epoch of runs' --metrics-out files, with
        their final test accuracies in the legend
    plot_expansion.py rotation OUT.png [--model MODEL.json]
        the chapter's exercise: a 6 from the MNIST test set turned by ever
        larger angles (with a network's reading of each, if a model is given)
"""

import argparse
import json

import numpy as np


def plot_accuracy(metrics_files, out, labels=None):
    """Plot validation accuracy per epoch for each metrics JSON."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for k, path in enumerate(metrics_files):
        doc = json.loads(open(path).read())
        cfg = doc["config"]
        ax.set_title(f"{cfg['sizes']}, {cfg['train_size']:,} training images, "
                     f"eta {cfg['eta']:g}, lmbda {cfg['lmbda']:g}, seed {cfg['seed']}", fontsize=10)
        acc = [100 * e["evaluation_accuracy"] for e in doc["epochs"]]
        expand = doc["config"].get("expand") or []
        name = labels[k] if labels and k < len(labels) else (
            "expanded: " + " + ".join(expand) if expand else "no expansion")
        ax.plot(range(1, len(acc) + 1), acc, marker="o" if len(acc) <= 40 else None, ms=3,
                label=f"{name} (test {100 * doc['test_accuracy']:.2f}%)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def find_six(test):
    """The first 6 of the test set (a round one that turns into a 9)."""
    return test.images[np.flatnonzero(test.labels == 6)[0]].reshape(28, 28)


def plot_rotation(out, model=None, angles=(0, 15, 30, 60, 90, 120, 150, 180)):
    """Show a 6 turned by each angle, and a 9 for comparison."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from nndl.data import load_mnist
    from nndl.expansion import rotate
    test = load_mnist(quiet=True).test
    six = find_six(test)
    turned = rotate(np.repeat(six[None], len(angles), 0), np.asarray(angles, float))
    nine = test.images[np.flatnonzero(test.labels == 9)[0]].reshape(28, 28)
    net = None
    if model:
        from nndl.persistence import load
        net = load(model)
    fig, axes = plt.subplots(1, len(angles) + 1, figsize=(1.3 * (len(angles) + 1), 1.9))
    for ax, img, title in zip(axes, list(turned) + [nine],
                              [f"{a}°" for a in angles] + ["a real 9"]):
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        label = title
        if net is not None:
            label += f"\nread as {int(net.predict(img.reshape(1, -1))[0])}"
        ax.set_title(label, fontsize=9)
    fig.suptitle("a 6 rotated by larger and larger angles, still labelled 6", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main():
    """Dispatch to the figure asked for."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("files", nargs="+", help="metrics JSON files, then OUT.png")
    a.add_argument("--labels", nargs="*")
    r = sub.add_parser("rotation")
    r.add_argument("out")
    r.add_argument("--model")
    args = ap.parse_args()
    if args.what == "accuracy":
        plot_accuracy(args.files[:-1], args.files[-1], args.labels)
    else:
        plot_rotation(args.out, args.model)


if __name__ == "__main__":
    main()
