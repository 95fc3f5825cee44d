"""The ``nndl`` command line: train, evaluate and predict.

Every user mistake (a bad flag value, a missing or corrupt file, sizes that do
not fit the data) ends with one line on stderr and exit status 2, never a
traceback.  A training run that diverges (NaN or infinite values) stops at
once with one line and exit status 3.
"""

import argparse
import json
import platform
import sys
import time
from typing import NamedTuple

import numpy as np

from . import __version__
from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .errors import ConfigError, DivergenceError, NNDLError

EXIT_USAGE = 2
EXIT_DIVERGED = 3


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
    from .network import check_sizes
    try:
        return check_sizes(sizes)       # refuses absurd sizes before any data is loaded
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def bounded(convert, accept, requirement, doc, why=""):
    """Return an argparse type: ``convert`` the text (int or a finite float),
    then refuse it unless ``accept(value)``, saying it ``must be
    {requirement}``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            kind = "an integer" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if convert is float and not np.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}{why}")
        return value
    parse.__doc__ = doc
    return parse


positive_float = bounded(float, lambda v: v > 0, "> 0", "A float > 0 (for eta).")
nonnegative_float = bounded(float, lambda v: v >= 0, ">= 0", "A float >= 0 (for lmbda).")
positive_int = bounded(int, lambda v: v >= 1, ">= 1", "An integer >= 1.")
nonnegative_int = bounded(int, lambda v: v >= 0, ">= 0", "An integer >= 0.")
probability = bounded(float, lambda v: 0 <= v < 1, "in [0, 1)",
                      "A dropout probability in [0, 1).")
momentum_coefficient = bounded(
    float, lambda v: 0 <= v < 1, "in [0, 1)",
    "A momentum co-efficient mu in [0, 1): with mu >= 1 nothing damps the velocity.",
    ": with mu >= 1 nothing damps the velocity")


def lr_schedule(text):
    """Parse 'halve', 'halve:N' or 'step:EPOCHS:FACTOR'."""
    parts = text.split(":")
    try:
        if parts[0] == "halve" and len(parts) <= 2:
            n = int(parts[1]) if len(parts) == 2 else 10
            if n >= 1:
                return ("halve", n)
        elif parts[0] == "step" and len(parts) == 3:
            every, factor = int(parts[1]), float(parts[2])
            if every >= 1 and 0 < factor and np.isfinite(factor):
                return ("step", every, factor)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected halve, halve:N (N >= 1) or step:EPOCHS:FACTOR (e.g. step:10:0.5), got {text!r}")


def gain_rule(text):
    """Parse 'WINDOW:GAIN' for the gain-rate early-stopping rule."""
    try:
        window, gain = text.split(":")
        window, gain = int(window), float(gain)
        if window >= 1 and 0 <= gain < 1:
            return (window, gain)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected WINDOW:GAIN with WINDOW >= 1 and GAIN a fraction in [0, 1) "
        f"(e.g. 5:0.002), got {text!r}")


def digit_list(text):
    """Parse '0,1' into [0, 1]: at least two distinct labels >= 0."""
    try:
        digits = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated labels like 0,1, got {text!r}") from None
    if len(digits) < 2 or len(set(digits)) != len(digits) or min(digits) < 0:
        raise argparse.ArgumentTypeError(
            f"need at least 2 distinct labels >= 0, got {text!r}")
    return digits


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
    from .options import preset_names
    parser = ArgumentParser(prog="nndl", description=(
        "Neural networks from chapter 3 of Nielsen's 'Neural Networks and Deep Learning'."))
    parser.add_argument("--version", action="version", version=f"nndl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    t = sub.add_parser("train", help="train a network (default: the book's regularised [784,30,10])",
                       description="Train a network by mini-batch SGD. The defaults are the "
                       "chapter's regularised network: [784,30,10], cross-entropy, eta 0.5, "
                       "lmbda 5.0, mini-batch 10, 30 epochs (the book reports 96.49%).")
    add_dataset_arguments(t)
    t.add_argument("--sizes", type=parse_sizes, default=None,
                   help="layer sizes, input first (default: 784,30,10; with --digits the "
                        "output layer has one neuron per digit)")
    t.add_argument("--epochs", type=nonnegative_int, default=30, help="default: 30")
    t.add_argument("--batch-size", type=positive_int, default=10, help="mini-batch size (default: 10)")
    t.add_argument("--eta", type=positive_float, default=0.5, help="learning rate (default: 0.5)")
    lm = t.add_mutually_exclusive_group()
    lm.add_argument("--lmbda", type=nonnegative_float, default=5.0,
                    help="regularisation parameter lambda (default: 5.0)")
    lm.add_argument("--lmbda-per-example", type=nonnegative_float, default=None, metavar="X",
                    help="set lambda = X * (training-set size), so the weight decay "
                         "eta*lambda/n per step is the same for any training-set size "
                         "(the chapter's 0.1 for 1,000 images and 5.0 for 50,000 is X = 1e-4)")
    t.add_argument("--regularization", choices=("l2", "l1"), default="l2", help="default: l2")
    t.add_argument("--cost", choices=("cross-entropy", "quadratic", "log-likelihood"),
                   default=None, help="default: the one that belongs with --output: "
                   "cross-entropy for sigmoid, log-likelihood for softmax, quadratic for linear")
    t.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="sigmoid",
                   help="hidden neurons (default: sigmoid)")
    t.add_argument("--output", choices=OUTPUT_ACTIVATIONS, default=None,
                   help="output neurons (default: the one that belongs with --cost; sigmoid)")
    t.add_argument("--momentum", type=momentum_coefficient, default=0.0, metavar="MU",
                   help="momentum co-efficient mu, equations (107)-(108) (default: 0, plain SGD)")
    t.add_argument("--nesterov", action="store_true",
                   help="use Nesterov's accelerated gradient (needs --momentum)")
    t.add_argument("--dropout", type=probability, default=0.0, metavar="P",
                   help="drop each hidden neuron with probability P while training (inverted "
                        "dropout: nothing to rescale at test time)")
    t.add_argument("--input-dropout", type=probability, default=0.0, metavar="P",
                   help="drop each input pixel with probability P while training")
    t.add_argument("--dropout-mask", choices=("batch", "example"), default="batch",
                   help="one dropout mask per mini-batch, as the chapter (default), "
                        "or one per example")
    t.add_argument("--max-norm", type=positive_float, default=None, metavar="C",
                   help="after each step, scale every neuron's incoming weights back to "
                        "length C if longer")
    t.add_argument("--early-stopping", type=positive_int, default=None, metavar="N",
                   help="stop after N epochs without a better validation accuracy, and keep "
                        "the best epoch's weights (no-improvement-in-N)")
    t.add_argument("--early-stopping-gain", type=gain_rule, default=None, metavar="W:GAIN",
                   help="stop when the best validation accuracy rose by less than GAIN (a "
                        "fraction) over the last W epochs, and keep the best weights")
    t.add_argument("--lr-schedule", type=lr_schedule, default=None,
                   metavar="{halve,halve:N,step:EPOCHS:FACTOR}",
                   help="halve: halve eta after each 10 (N) epochs without a better validation "
                        "accuracy, stop at eta/128; step: multiply eta by FACTOR every EPOCHS")
    t.add_argument("--time-limit", type=positive_float, default=None, metavar="MINUTES",
                   help="stop before an epoch that would end more than MINUTES after "
                        "training began")
    t.add_argument("--monitor-every", type=positive_int, default=None, metavar="K",
                   help="also measure accuracy every K training images (fast feedback)")
    t.add_argument("--monitor-subset", type=positive_int, default=100, metavar="M",
                   help="...on the first M evaluation images (default: 100)")
    t.add_argument("--digits", type=digit_list, default=None,
                   help="train and evaluate on these classes only, e.g. 0,1 (labels become "
                        "their positions in this list)")
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
    t.add_argument("--expand", metavar="SPEC", action="append", default=[],
                   help="distort every training image afresh each epoch: "
                        "elastic:alpha=34,sigma=4, affine:rotate=15,shift=2,skew=10,scale=0.1 "
                        "or shift:pixels=1; repeat the flag to compose transforms in order")
    t.add_argument("--engine", choices=("auto", "reference", "numba", "blas"), default="auto",
                   help="how training steps are computed: auto (a fast engine when it "
                        "supports every option, else the NumPy reference), or one by name")
    t.add_argument("--test", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the test accuracy at the end (default); --no-test leaves the "
                        "test set untouched, for runs that choose hyper-parameters")
    t.add_argument("--save", metavar="MODEL.json", help="save the trained network here")
    t.add_argument("--metrics-out", metavar="FILE.json", help="write per-epoch metrics here")
    t.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="progress bar during each epoch (auto: only on a terminal)")
    t.add_argument("--preset", choices=preset_names(),
                   help="start from a named set of options shipped with nndl (best: the "
                        "best fully-connected network, docs/results/best.md); --config and "
                        "flags given here win")
    t.add_argument("--config", metavar="FILE.toml",
                   help="read options from a TOML file whose keys are these flags' names "
                        "(eta = 0.5, sizes = [784, 30, 10], ...); flags given here win")
    t.add_argument("--checkpoint", metavar="DIR",
                   help="save the whole training state to DIR after every epoch")
    t.add_argument("--resume", metavar="DIR",
                   help="continue the run checkpointed in DIR (give the same flags; "
                        "--epochs may grow); it goes on checkpointing there")
    t.set_defaults(handler=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy and cost of a saved network")
    e.add_argument("model", metavar="MODEL.json")
    add_dataset_arguments(e)
    e.add_argument("--on", choices=("test", "validation", "training"), default="test",
                   help="which split to evaluate (default: test)")
    e.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files with a saved network (or the "
                       "shipped one)", usage="nndl predict [-h] [MODEL.json] IMAGE [IMAGE ...]")
    p.add_argument("images", metavar="[MODEL.json] IMAGE", nargs="+",
                   help="a saved network (a .json file; without one, nndl's shipped MNIST "
                        "network), then PNG/JPEG/... files of any size; each is turned into a "
                        "centred 28x28 digit the way MNIST was made")
    p.set_defaults(handler=cmd_predict)

    x = sub.add_parser("expand", help="write an artificially expanded copy of a dataset",
                       description="Write the dataset to a .npz with every training image "
                       "followed by COPIES distorted copies (shuffled); validation and test "
                       "sets are copied unchanged. 'nndl train --dataset FILE.npz' reads it.")
    add_dataset_arguments(x)
    x.add_argument("--transform", metavar="SPEC", action="append", required=True,
                   help="as 'nndl train --expand'; repeat to compose. shift:pixels=1 alone "
                        "makes the book's expand_mnist.py set (every image and its four "
                        "1-pixel shifts)")
    x.add_argument("--copies", type=positive_int, default=None,
                   help="distorted copies per training image (default: 4 for a lone "
                        "shift transform, each direction once; else 1)")
    x.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the distortions and the shuffle (default: 0)")
    x.add_argument("--out", metavar="FILE.npz", required=True, help="where to write")
    x.add_argument("--preview", metavar="FILE.png",
                   help="also write a grid of training images beside their distortions")
    x.set_defaults(handler=cmd_expand)

    from .lrfind import add_lr_find_parser
    from .search.command import add_search_parser
    add_lr_find_parser(sub)
    add_search_parser(sub)
    from .plot import add_plot_parser; add_plot_parser(sub)  # noqa: E702 (one line per command)
    from .playground import add_playground_parser; add_playground_parser(sub)  # noqa: E702
    parser.subcommands = sub.choices

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
COST_FOR_OUTPUT = {None: "cross-entropy", "sigmoid": "cross-entropy",
                   "softmax": "log-likelihood", "linear": "quadratic"}


def cmd_train(args):
    """Train a network as the flags say; print one line per epoch and the
    final test accuracy; optionally save the model and the metrics."""
    from .persistence import save

    from . import fast
    from .callbacks import WallClock

    started = time.perf_counter()
    fast.LEAN_NUMBA = True      # this process runs only nndl: see the function's docstring
    run = prepare_run(args)
    printer = EpochPrinter(args.evaluate_on, show_eta=args.lr_schedule is not None)
    state = run_training(run, [WallClock(started), printer])
    net, splits, training = run.net, run.splits, run.training
    summary = run_summary(state, run.steering, args.evaluate_on)
    if summary["stop_reason"]:
        print(f"stopped: {summary['stop_reason']}")
    if summary["best_epoch"] is not None:
        print(f"best epoch: {summary['best_epoch'] + 1}")
    test_accuracy = None
    if args.test:
        test_accuracy = net.accuracy(splits.test.images, splits.test.labels) / len(splits.test)
        print(f"test accuracy: {test_accuracy:.2%} ({round(test_accuracy * len(splits.test))} "
              f"/ {len(splits.test)})")
    print(f"engine: {state.engine} ({state.engine_reason})")
    if args.save:
        save(net, args.save)
        print(f"saved network to {args.save}")
    if args.metrics_out:
        write_metrics(args.metrics_out, args, state, test_accuracy, len(training), summary)
    return 0


def check_cost_and_output(cost, output):
    """Refuse a --cost / --output pair that does not belong together, saying why."""
    from .activations import get_activation
    from .costs import check_pairing, default_output_for, get_cost
    cost = get_cost(cost)
    check_pairing(cost, get_activation(output) if output else default_output_for(cost))


def load_splits(args, splits=None):
    """Load the dataset (unless ``splits`` is given); with --digits keep only
    those classes and size the output layer to match."""
    from .data import Splits, load_dataset
    if splits is None:
        splits = load_dataset(args.dataset, validation_size=args.validation_size)
    if args.digits:
        splits = Splits(*(d.only_classes(args.digits) if len(d) else d
                          for d in (splits.training, splits.validation, splits.test)))
        if len(splits.training) == 0:
            raise ConfigError(f"no training images have the labels {args.digits}")
        if args.sizes is None:
            args.sizes = [784, 30, len(args.digits)]
        elif args.sizes[-1] != len(args.digits):
            raise ConfigError(f"--sizes ends with {args.sizes[-1]} outputs but --digits "
                              f"chooses {len(args.digits)} classes")
    if args.sizes is None:
        args.sizes = [784, 30, 10]
    return splits


def make_optimizer_from(args):
    """SGD, or momentum / Nesterov when --momentum is given."""
    from .optimizers import make_optimizer
    return make_optimizer(args.eta, args.momentum, args.nesterov)


def step_options(args):
    """The per-step pieces: dropout masks and the max-norm constraint."""
    from .dropout import Dropout
    from .regularization import MaxNorm
    dropout = None
    if args.dropout or args.input_dropout:
        dropout = Dropout(args.dropout, args.input_dropout,
                          per_example=args.dropout_mask == "example")
    return {"dropout": dropout,
            "constraint": MaxNorm(args.max_norm) if args.max_norm else None}


def technique_callbacks(args):
    """The callbacks that steer training: early stopping, schedules, fast monitoring."""
    from .callbacks import (EarlyStopping, FastMonitor, GainRateStopping, HalvingSchedule,
                            StepSchedule, TimeLimit)
    judges_by_validation = (args.early_stopping or args.early_stopping_gain
                            or (args.lr_schedule and args.lr_schedule[0] == "halve"))
    if judges_by_validation and args.evaluate_on != "validation":
        raise ConfigError("early stopping and the halving schedule choose by validation "
                          "accuracy; choosing by test accuracy would leak the test set "
                          "(drop --evaluate-on test)")
    callbacks = []
    if args.early_stopping:
        callbacks.append(EarlyStopping(args.early_stopping))
    if args.early_stopping_gain:
        callbacks.append(GainRateStopping(*args.early_stopping_gain))
    if args.lr_schedule and args.lr_schedule[0] == "halve":
        callbacks.append(HalvingSchedule(args.lr_schedule[1]))
    elif args.lr_schedule:
        callbacks.append(StepSchedule(*args.lr_schedule[1:]))
    if args.time_limit:
        callbacks.append(TimeLimit(args.time_limit * 60))
    if args.monitor_every:
        callbacks.append(FastMonitor(args.monitor_every, args.monitor_subset,
                                     report=lambda line: print(line, flush=True)))
    return callbacks


def run_summary(state, callbacks, evaluate_on):
    """Return stop_reason, best_epoch, best_evaluation_accuracy and the fast
    monitor's points, for the printout and the metrics file."""
    best_epoch = best_accuracy = None
    trackers = [cb for cb in callbacks if getattr(cb, "tracker", None) is not None]
    if trackers:
        best_epoch = trackers[0].tracker.best_epoch
        best_accuracy = trackers[0].tracker.best_accuracy
    elif evaluate_on == "validation" and state.history and \
            "evaluation_accuracy" in state.history[0]:
        accs = [r["evaluation_accuracy"] for r in state.history]
        best_epoch = int(np.argmax(accs))
        best_accuracy = accs[best_epoch]
    summary = {"stop_reason": state.stop, "best_epoch": best_epoch,
               "best_evaluation_accuracy": best_accuracy}
    points = [p for cb in callbacks for p in getattr(cb, "points", [])]
    if points:
        summary["monitor_points"] = points
    return summary


class TrainingRun(NamedTuple):
    """Everything one training run needs, built from parsed train flags."""

    args: argparse.Namespace
    net: object
    splits: object
    training: object
    evaluation: object
    optimizer: object
    steering: list      # callbacks that steer training: early stopping, schedules
    options: dict       # per-step pieces for train(): dropout, constraint


def prepare_run(args, splits=None):
    """Check every flag, load the data (unless ``splits`` is given: a search
    loads it once per process) and build the network, optimiser and steering
    callbacks that the parsed train flags describe."""
    from .network import Network

    # every flag is checked before any data is loaded
    args.cost = args.cost or COST_FOR_OUTPUT[args.output]
    check_cost_and_output(args.cost, args.output)
    optimizer, steering, options = make_optimizer_from(args), technique_callbacks(args), \
        step_options(args)
    splits = load_splits(args, splits)
    training = splits.training.subset(args.train_size) if args.train_size else splits.training
    evaluation = splits.validation if args.evaluate_on == "validation" else splits.test
    check_sizes_fit(args.sizes, splits)
    if args.evaluate_on == "validation" and len(evaluation) == 0:
        raise ConfigError("the dataset has no validation set; use --evaluate-on test")
    net = Network(args.sizes, cost=args.cost, hidden=args.activation, output=args.output,
                  init=args.init, dtype=args.dtype, seed=args.seed)
    if args.lmbda_per_example is not None:
        from .regularization import lmbda_for
        args.lmbda = lmbda_for(args.lmbda_per_example, len(training))
    if args.expand:
        options["augment"] = make_expander(args.expand, args.seed)
        options["augment"].image_shape(training.images.shape[1])
    return TrainingRun(args, net, splits, training, evaluation, optimizer, steering, options)


def run_training(run, callbacks=()):
    """Train ``run.net`` as its flags say, with monitoring, a progress bar and
    the steering callbacks, then ``callbacks`` (which see each epoch's
    monitored values); return the final training state."""
    from .regularization import make_regularization
    from .training import Monitor, ProgressBar, train

    from .divergence import DivergenceCheck

    args = run.args
    monitor = Monitor(**{m.replace("-", "_"): True for m in args.monitor})
    progress = ProgressBar(enabled={"auto": None, "on": True, "off": False}[args.progress])
    # a disabled bar is left out: per-batch callbacks cost the fast engines speed
    callbacks = (([progress] if progress.enabled else [])
                 + [monitor, DivergenceCheck(), *run.steering, *callbacks])
    start, history = checkpointing(args, run.training, run.net, run.optimizer, callbacks)
    with np.errstate(over="ignore", invalid="ignore"):   # divergence is reported by DivergenceCheck
        return train(run.net, run.training, args.epochs, args.batch_size, run.optimizer,
                     regularization=make_regularization(args.regularization, args.lmbda),
                     evaluation=run.evaluation, callbacks=callbacks,
                     start_epoch=start, history=history, engine=args.engine, **run.options)


def parse_transforms(specs):
    """Return the composed transform of ``specs``; a warning about them
    (large rotations) becomes one line 'nndl: warning: ...' on stderr."""
    import warnings
    from .expansion import parse_specs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transform = parse_specs(specs)
    for w in caught:
        print(f"nndl: warning: {w.message}", file=sys.stderr)
    return transform


def make_expander(specs, seed):
    """Return the on-the-fly ``Expander`` for ``--expand`` SPECs (seeded by --seed)."""
    from .expansion import Expander
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed must be >= 0 with --expand, got {seed}")
    return Expander(parse_transforms(specs), seed=seed)


#: Flags that may change between a run and its resumption: they do not change the result.
RESUME_MAY_DIFFER = ("progress", "save", "metrics_out", "checkpoint", "resume", "epochs",
                     "time_limit", "test")


def checkpointing(args, training, net, optimizer, callbacks):
    """Set up --checkpoint and --resume; return (start epoch, history so far).

    Resuming restores the network, generator, optimiser and callbacks from
    the checkpoint, after refusing one made with settings that would change
    the result.  A Checkpoint callback is appended last when either flag is
    given; an existing checkpoint is never overwritten by a fresh run.
    """
    from .checkpoint import Checkpoint, has_checkpoint, load_checkpoint, restore
    directory = args.resume or args.checkpoint
    if directory is None:
        return 0, []
    config = run_config(args, training)
    if args.checkpoint and args.checkpoint != args.resume and has_checkpoint(args.checkpoint):
        raise ConfigError(f"{args.checkpoint} already holds a checkpoint; continue it with "
                          f"--resume {args.checkpoint} or choose another directory")
    start, history = 0, []
    if args.resume:
        saved = load_checkpoint(args.resume)
        check_same_config(args.resume, saved.manifest["config"], config)
        resumed = restore(saved, net, optimizer, callbacks)
        if resumed.epoch > args.epochs:
            raise ConfigError(f"--resume {args.resume}: the checkpoint has {resumed.epoch} "
                              f"epochs done, more than --epochs {args.epochs}")
        start = args.epochs if resumed.stop else resumed.epoch
        history = resumed.history
        print(f"resuming from {args.resume} after epoch {resumed.epoch}", flush=True)
    callbacks.append(Checkpoint(args.checkpoint or args.resume, config))
    return start, history


def run_config(args, training):
    """The settings a checkpoint records: every flag that changes the result,
    and a fingerprint of the training data."""
    import hashlib
    config = {k: v for k, v in vars(args).items()
              if k not in RESUME_MAY_DIFFER and k not in ("handler", "command")}
    digest = hashlib.sha256(training.images.tobytes())
    digest.update(training.labels.tobytes())
    config["training_data_sha256"] = digest.hexdigest()
    return json.loads(json.dumps(config))


def check_same_config(directory, saved, current):
    """Refuse to resume a run whose settings differ from the checkpoint's, naming each."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            flag = "training data" if key == "training_data_sha256" else "--" + key.replace("_", "-")
            diffs.append(f"{flag} {_show(saved.get(key))} (now {_show(current.get(key))})")
    if diffs:
        raise ConfigError(f"--resume {directory}: the checkpoint was made with different "
                          f"settings: {'; '.join(diffs)}; rerun with the checkpoint's settings")


def _show(value):
    """A flag value as it is typed: lists comma-separated, data digests shortened."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "..."
    return str(value)


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

    def __init__(self, evaluate_on, show_eta=False):
        self.evaluate_on = evaluate_on
        self.show_eta = show_eta

    def on_epoch_end(self, state):
        """Print the epoch's timing and monitored quantities."""
        r = state.history[-1]
        parts = [f"epoch {r['epoch'] + 1:>{len(str(state.epochs))}}/{state.epochs}",
                 f"train {r['train_seconds']:.2f}s"]
        if self.show_eta:
            parts.append(f"eta {r['eta']:g}")
        if "training_cost" in r:
            parts.append(f"training cost {r['training_cost']:.4f}")
        if "training_accuracy" in r:
            parts.append(f"training accuracy {r['training_accuracy']:.2%}")
        if "evaluation_cost" in r:
            parts.append(f"{self.evaluate_on} cost {r['evaluation_cost']:.4f}")
        if "evaluation_accuracy" in r:
            parts.append(f"{self.evaluate_on} accuracy {r['evaluation_accuracy']:.2%}")
        if "wall_seconds" in r:
            parts.append(f"elapsed {r['wall_seconds']:.0f}s")
        print("  ".join(parts), flush=True)


def write_metrics(path, args, state, test_accuracy, n_train, summary=None):
    """Write the metrics JSON (schema in the README) atomically: ``engine``
    records which step implementation trained the network and why;
    ``summary`` adds top-level entries (stop_reason, best_epoch, ...)."""
    from .persistence import atomic_write_text
    config = {k: v for k, v in vars(args).items() if k not in ("handler", "command")}
    config.update(train_size=n_train, nndl_version=__version__, numpy_version=np.__version__,
                  python_version=platform.python_version())
    doc = {"config": config, "engine": {"name": state.engine, "reason": state.engine_reason},
           "epochs": state.history, "test_accuracy": test_accuracy}
    doc.update(summary or {})
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
    from .errors import ImageError
    from .images import load_digit
    from .persistence import load
    args.model = args.images.pop(0) if args.images[0].lower().endswith(".json") else None
    if not args.images:
        raise ConfigError(f"no image given after the model {args.model}")
    if args.model is None:
        from . import pretrained
        net = pretrained.load()
        print(pretrained.describe(), file=sys.stderr, flush=True)
    else:
        net = load(args.model)
    if net.sizes[0] != 784:
        raise ConfigError(f"{args.model} expects {net.sizes[0]} inputs, not 28x28 images")
    status = 0
    for path in args.images:
        try:
            x = load_digit(path)
        except ImageError as e:   # one line for this file, then on to the next
            print(f"nndl: error: {e}", file=sys.stderr, flush=True)
            status = EXIT_USAGE
            continue
        out = net.feedforward(x[None, :])[0].astype(np.float64)
        probs = out / out.sum() if out.sum() > 0 else np.full_like(out, 1 / len(out))
        listing = " ".join(f"{d}:{p:.2f}" for d, p in enumerate(probs))
        print(f"{path}: {int(out.argmax())}  ({listing})", flush=True)
    return status


# ------------------------------------------------------------------ expand
def cmd_expand(args):
    """Write the expanded dataset (and optionally a preview grid)."""
    from .data import load_dataset
    from .expansion.store import default_copies, write_expanded
    if not args.out.endswith(".npz"):
        raise ConfigError(f"--out must name a .npz file, got {args.out!r}")
    if args.preview is not None and not args.preview.endswith(".png"):
        raise ConfigError(f"--preview must name a .png file, got {args.preview!r}")
    transform = parse_transforms(args.transform)
    splits = load_dataset(args.dataset, validation_size=args.validation_size)
    shape = square_shape(splits.training.images.shape[1])
    copies = args.copies or default_copies(transform)
    start = time.perf_counter()
    total = write_expanded(args.out, splits, transform, copies, args.seed, shape,
                           spec_text=" ".join(args.transform))
    print(f"wrote {args.out}: {total} training images ({len(splits.training)} originals + "
          f"{copies} distorted cop{'y' if copies == 1 else 'ies'} each) in "
          f"{time.perf_counter() - start:.1f}s; validation and test unchanged")
    if args.preview:
        write_preview_grid(args.preview, splits.training.images, shape, transform, copies, args.seed)
        print(f"wrote {args.preview}")
    return 0


def square_shape(d):
    """Return (side, side) for images of ``d`` pixels, or raise ConfigError."""
    side = int(round(d ** 0.5))
    if side * side != d:
        raise ConfigError(f"cannot distort images of {d} values: they are not square")
    return side, side


def write_preview_grid(path, images, shape, transform, copies, seed, rows=8, cols=6):
    """Write ``rows`` training images beside ``cols`` distortions each (or
    beside their ``copies`` variants, for the book's shifts)."""
    from .expansion.store import distort_copies, enumerated, write_preview
    originals = images[:rows].reshape(-1, *shape)
    n_cols = copies if enumerated(transform, copies) else cols
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    columns = [distort_copies(transform, originals, np.full(len(originals), j), rng, copies)
               for j in range(1, n_cols + 1)]
    write_preview(path, originals, columns)


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
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, extra = parser.parse_known_args(argv)
        if hasattr(args, "train_argv"):          # lr-find passes other flags to train's parser
            args.train_argv = extra
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if getattr(args, "config", None) or getattr(args, "preset", None):
            from .options import with_settings
            train = parser.subcommands["train"]
            args = parser.parse_args(with_settings(argv, args.command, train,
                                                   args.preset, args.config))
        return args.handler(args)
    except DivergenceError as e:
        print(f"nndl: error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except NNDLError as e:
        print(f"nndl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"nndl: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("nndl: error: out of memory", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nndl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
