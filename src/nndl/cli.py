"""The ``nndl`` command line: train, evaluate and predict.

Every user mistake (a bad flag value, a missing or corrupt file, sizes that do
not fit the data) ends with one line on stderr and exit status 2, never a
traceback.
"""

import argparse
import json
import platform
import sys
import time

import numpy as np

from . import __version__
from .errors import ConfigError, NNDLError

EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: 'nndl: error: ...'."""

    def error(self, message):
        raise ConfigError(message)


def parse_sizes(text):
    """Parse '784,30,10' into [784, 30, 10]."""
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 784,30,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"need at least 2 positive layer sizes, got {text!r}")
    return sizes


def positive_float(text):
    """A float > 0 (for eta)."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def nonnegative_float(text):
    """A float >= 0 (for lmbda)."""
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_int(text):
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def nonnegative_int(text):
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


MONITORS = ("training-cost", "training-accuracy", "evaluation-cost", "evaluation-accuracy")


def monitor_list(text):
    """Parse a comma-separated list of quantities to monitor."""
    items = [s for s in text.split(",") if s]
    for s in items:
        if s not in MONITORS:
            raise argparse.ArgumentTypeError(
                f"unknown quantity {s!r}; choose from {', '.join(MONITORS)}")
    return items


def add_dataset_arguments(parser):
    """The flags that choose a dataset, shared by train and evaluate."""
    parser.add_argument("--dataset", default="mnist",
                        help="mnist (fetched and verified), idx:DIR (MNIST-format IDX files), "
                             "or a path to a book-format .pkl.gz (default: mnist)")
    parser.add_argument("--validation-size", type=nonnegative_int, default=10000,
                        help="for IDX datasets: training images kept back, from the end, "
                             "as validation data (default: 10000, as the book)")


def build_parser():
    """Return the argument parser for every subcommand."""
    parser = ArgumentParser(prog="nndl", description=(
        "Neural networks from chapter 3 of Nielsen's 'Neural Networks and Deep Learning'."))
    parser.add_argument("--version", action="version", version=f"nndl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    t = sub.add_parser("train", help="train a network (default: the book's regularised [784,30,10])",
                       description="Train a network by mini-batch SGD. The defaults are the "
                       "chapter's regularised network: [784,30,10], cross-entropy, eta 0.5, "
                       "lmbda 5.0, mini-batch 10, 30 epochs (the book reports 96.49%).")
    add_dataset_arguments(t)
    t.add_argument("--sizes", type=parse_sizes, default=[784, 30, 10],
                   help="layer sizes, input first (default: 784,30,10)")
    t.add_argument("--epochs", type=nonnegative_int, default=30, help="default: 30")
    t.add_argument("--batch-size", type=positive_int, default=10, help="mini-batch size (default: 10)")
    t.add_argument("--eta", type=positive_float, default=0.5, help="learning rate (default: 0.5)")
    t.add_argument("--lmbda", type=nonnegative_float, default=5.0,
                   help="regularisation parameter lambda (default: 5.0)")
    t.add_argument("--regularization", choices=("l2", "l1"), default="l2", help="default: l2")
    t.add_argument("--cost", choices=("cross-entropy", "quadratic", "log-likelihood"),
                   default="cross-entropy", help="default: cross-entropy (log-likelihood "
                   "uses a softmax output layer)")
    t.add_argument("--init", choices=("default", "large"), default="default",
                   help="weights N(0,1/n_in) (default) or N(0,1) (large)")
    t.add_argument("--train-size", type=positive_int, default=None,
                   help="train on the first N training images only")
    t.add_argument("--evaluate-on", choices=("validation", "test"), default="validation",
                   help="data monitored after each epoch (default: validation)")
    t.add_argument("--monitor", type=monitor_list, default=["evaluation-accuracy", "evaluation-cost"],
                   help="comma-separated quantities to measure each epoch, from "
                        f"{', '.join(MONITORS)} (default: evaluation-accuracy,evaluation-cost)")
    t.add_argument("--seed", type=int, default=None, help="random seed; same seed, same run")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="float32 (default, fast) or float64 (the book's precision)")
    t.add_argument("--save", metavar="MODEL.json", help="save the trained network here")
    t.add_argument("--metrics-out", metavar="FILE.json", help="write per-epoch metrics here")
    t.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="progress bar during each epoch (auto: only on a terminal)")
    t.set_defaults(handler=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy and cost of a saved network")
    e.add_argument("model", metavar="MODEL.json")
    add_dataset_arguments(e)
    e.add_argument("--on", choices=("test", "validation", "training"), default="test",
                   help="which split to evaluate (default: test)")
    e.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files with a saved network")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   help="PNG/JPEG/... files of any size; each is turned into a centred "
                        "28x28 digit the way MNIST was made")
    p.set_defaults(handler=cmd_predict)

    r = sub.add_parser("reproduce", help="rerun the chapter's experiments; book's numbers beside ours",
                       description="Run experiments of the chapter with the book's settings, write "
                       "OUT/NAME/metrics.json and the plots, and print the book's numbers beside ours.")
    r.add_argument("names", metavar="NAME", nargs="*", help="experiments to run, or 'all'")
    r.add_argument("--list", action="store_true", help="list the experiments and exit")
    r.add_argument("--quick", action="store_true",
                   help="reduced settings (fewer epochs and images): a smoke run, not judged")
    r.add_argument("--seeds", type=positive_int, default=3,
                   help="repeat the runs with seeds 0..K-1 (default: 3)")
    r.add_argument("--out", default="reproduction", help="output folder (default: reproduction)")
    r.set_defaults(handler=cmd_reproduce)

    rep = sub.add_parser("report", help="gather reproduced results into one HTML and Markdown page")
    rep.add_argument("--out", default="reproduction",
                     help="the folder 'nndl reproduce' wrote to (default: reproduction)")
    rep.set_defaults(handler=cmd_report)
    return parser


# ------------------------------------------------------------------- train
def cmd_train(args):
    """Train a network as the flags say; print one line per epoch and the
    final test accuracy; optionally save the model and the metrics."""
    from .data import load_dataset
    from .network import Network
    from .optimizers import SGD
    from .persistence import save
    from .regularization import make_regularization
    from .training import Monitor, ProgressBar, train

    splits = load_dataset(args.dataset, validation_size=args.validation_size)
    training = splits.training.subset(args.train_size) if args.train_size else splits.training
    evaluation = splits.validation if args.evaluate_on == "validation" else splits.test
    check_sizes_fit(args.sizes, splits)
    net = Network(args.sizes, cost=args.cost, init=args.init, dtype=args.dtype, seed=args.seed)
    if args.evaluate_on == "validation" and len(evaluation) == 0:
        raise ConfigError("the dataset has no validation set; use --evaluate-on test")
    monitor = Monitor(**{m.replace("-", "_"): True for m in args.monitor})
    progress = ProgressBar(enabled={"auto": None, "on": True, "off": False}[args.progress])
    state = train(net, training, args.epochs, args.batch_size, SGD(args.eta),
                  regularization=make_regularization(args.regularization, args.lmbda),
                  evaluation=evaluation, callbacks=[progress, monitor, EpochPrinter(args.evaluate_on)])
    test_accuracy = net.accuracy(splits.test.images, splits.test.labels) / len(splits.test)
    print(f"test accuracy: {test_accuracy:.2%} ({round(test_accuracy * len(splits.test))} "
          f"/ {len(splits.test)})")
    if args.save:
        save(net, args.save)
        print(f"saved network to {args.save}")
    if args.metrics_out:
        write_metrics(args.metrics_out, args, state.history, test_accuracy, len(training))
    return 0


def check_sizes_fit(sizes, splits):
    """Refuse layer sizes that cannot fit the data's images or labels."""
    n_in = splits.training.images.shape[1]
    if sizes[0] != n_in:
        raise ConfigError(f"--sizes starts with {sizes[0]} inputs but the images have "
                          f"{n_in} pixels")
    n_classes = int(max(int(d.labels.max()) for d in (splits.training, splits.test) if len(d))) + 1
    if sizes[-1] != n_classes:
        raise ConfigError(f"--sizes ends with {sizes[-1]} outputs but the labels have "
                          f"{n_classes} classes (0 to {n_classes - 1})")


class EpochPrinter:
    """Print one summary line per epoch."""

    def __init__(self, evaluate_on):
        self.evaluate_on = evaluate_on

    def on_epoch_end(self, state):
        r = state.history[-1]
        parts = [f"epoch {r['epoch'] + 1:>{len(str(state.epochs))}}/{state.epochs}",
                 f"train {r['train_seconds']:.2f}s"]
        if "training_cost" in r:
            parts.append(f"training cost {r['training_cost']:.4f}")
        if "training_accuracy" in r:
            parts.append(f"training accuracy {r['training_accuracy']:.2%}")
        if "evaluation_cost" in r:
            parts.append(f"{self.evaluate_on} cost {r['evaluation_cost']:.4f}")
        if "evaluation_accuracy" in r:
            parts.append(f"{self.evaluate_on} accuracy {r['evaluation_accuracy']:.2%}")
        print("  ".join(parts), flush=True)


def write_metrics(path, args, history, test_accuracy, n_train):
    """Write the metrics JSON (schema in the README) atomically."""
    from .persistence import atomic_write_text
    config = {k: v for k, v in vars(args).items() if k not in ("handler", "command")}
    config.update(train_size=n_train, nndl_version=__version__, numpy_version=np.__version__,
                  python_version=platform.python_version())
    doc = {"config": config, "epochs": history, "test_accuracy": test_accuracy}
    atomic_write_text(path, json.dumps(doc, indent=2))


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args):
    """Print a saved network's accuracy and cost on one split."""
    from .data import load_dataset
    from .persistence import load
    net = load(args.model)
    data = getattr(load_dataset(args.dataset, validation_size=args.validation_size), args.on)
    from .training import check_data
    check_data(net, data, args.on)
    acc = net.accuracy(data.images, data.labels)
    cost = net.total_cost(data.images, data.labels)
    print(f"{args.on} accuracy: {acc / len(data):.2%} ({acc} / {len(data)})")
    print(f"{args.on} cost: {cost:.4f}")
    return 0


# ----------------------------------------------------------------- predict
def cmd_predict(args):
    """Classify each image; print the digit and the output probabilities.

    For a softmax output layer the probabilities are its outputs; for sigmoid
    outputs they are the activations normalised to sum to 1.
    """
    from .images import load_digit
    from .persistence import load
    net = load(args.model)
    if net.sizes[0] != 784:
        raise ConfigError(f"{args.model} expects {net.sizes[0]} inputs, not 28x28 images")
    for path in args.images:
        out = net.feedforward(load_digit(path)[None, :])[0].astype(np.float64)
        probs = out / out.sum() if out.sum() > 0 else np.full_like(out, 1 / len(out))
        listing = " ".join(f"{d}:{p:.2f}" for d, p in enumerate(probs))
        print(f"{path}: {int(out.argmax())}  ({listing})")
    return 0


# --------------------------------------------------------------- reproduce
def cmd_reproduce(args):
    """Run the named experiments one after the other, printing each summary."""
    from .reproduce import format_table, listing, run_experiment, select
    if args.list:
        print(listing())
        return 0
    for experiment in select(args.names):
        print(format_table(run_experiment(experiment, args.quick, args.seeds, args.out)), flush=True)
    return 0


def cmd_report(args):
    """Write report.html and report.md from the results under --out."""
    from .report import write_report
    for path in write_report(args.out):
        print(f"wrote {path}")
    return 0


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except NNDLError as e:
        print(f"nndl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"nndl: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nndl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
