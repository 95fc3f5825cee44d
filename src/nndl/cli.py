"""The ``nndl`` command line: train, evaluate and predict.

Every user mistake (a bad flag value, a missing or corrupt file, sizes that do
not fit the data) ends with one line on stderr and exit status 2, never a
traceback.  A training run that diverges (NaN or infinite values) stops at
once with one line and exit status 3.
"""

import argparse
import os
import sys
import time
from dataclasses import fields

import numpy as np

from . import __version__
from . import params as P
from .errors import ConfigError, DivergenceError, NNDLError
from .run import RunConfig, flag

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_BROKEN_PIPE = 141           # as a tool killed by SIGPIPE: the reader stopped reading


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: 'nndl: error: ...'."""

    def error(self, message):
        raise ConfigError(message)


positive_float = P.POSITIVE.argtype()
positive_int = P.COUNT.argtype()
nonnegative_int = P.NONNEGATIVE_COUNT.argtype()

#: Options of ``nndl train`` that are not part of a run's configuration:
#: where more options come from.  They are listed before ``--checkpoint``.
SOURCE_OPTIONS = ("preset", "config")


def add_run_options(parser, names=None, defaults=False):
    """Add one option per RunConfig field (or the fields in ``names``), with
    the field's constraint as type (or choices), help and metavar.

    Without ``defaults`` an option not given is absent from the parsed
    namespace, so that a preset and a config file can fill it in and a flag
    given on the command line wins over both.
    """
    groups = {}
    for f in fields(RunConfig):
        if names is not None and f.name not in names:
            continue
        if f.name == "checkpoint" and names is None:
            add_source_options(parser)
        meta, constraint = f.metadata, f.metadata["constraint"]
        target = parser
        if meta["group"]:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["group"]]
        kwargs = {"default": f.default if defaults else argparse.SUPPRESS, "help": meta["help"]}
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        if isinstance(constraint, P.Flag):
            kwargs["action"] = (argparse.BooleanOptionalAction if f.default
                                else "store_true")
        elif constraint.choices is not None:
            kwargs["choices"] = constraint.choices
        elif isinstance(constraint, P.Repeated):
            kwargs.update(action="append", type=constraint.argtype())
        elif not isinstance(constraint, P.Text):
            kwargs["type"] = constraint.argtype()
        target.add_argument(flag(f.name), **kwargs)


def add_source_options(parser):
    """--preset and --config: options from a shipped preset or a TOML file."""
    from .options import preset_names
    parser.add_argument("--preset", choices=preset_names(),
                        help="start from a named set of options shipped with nndl (best: the "
                             "best fully-connected network, docs/results/best.md); --config and "
                             "flags given here win")
    parser.add_argument("--config", metavar="FILE.toml",
                        help="read options from a TOML file whose keys are these flags' names "
                             "(eta = 0.5, sizes = [784, 30, 10], ...); flags given here win")


def add_dataset_arguments(parser):
    """The flags that choose a dataset, shared by train and evaluate."""
    add_run_options(parser, ("dataset", "validation_size"), defaults=True)


def run_config(args):
    """The RunConfig the parsed train options describe: the preset's
    settings, then the config file's, then the flags given."""
    from .options import merge_settings, read_preset, read_toml, settings_from
    settings = {}
    if getattr(args, "preset", None):
        settings = settings_from(read_preset(args.preset), f"preset {args.preset}")
    if getattr(args, "config", None):
        settings = merge_settings(settings, settings_from(read_toml(args.config), args.config))
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if hasattr(args, f.name)}
    return RunConfig(**merge_settings(settings, given))


def say(line):
    """Print a notice from a run (the fast monitor, resuming) at once."""
    print(line, flush=True)


def build_run(config, splits=None):
    """``nndl.run.build``, with warnings about the options printed as one
    line each ('nndl: warning: ...')."""
    import warnings
    from .run import build
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = build(config, splits, report=say)
    for w in caught:
        print(f"nndl: warning: {w.message}", file=sys.stderr)
    return run


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
    add_run_options(t)
    t.set_defaults(handler=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy and cost of a saved network (several: "
                       "each one's accuracy and the committee's)")
    e.add_argument("model", metavar="MODEL.json", nargs="+",
                   help="a saved network; several make a committee, which classifies by the "
                        "mean of their output probabilities (nndl.committee)")
    add_dataset_arguments(e)
    e.add_argument("--on", choices=("test", "validation", "training"), default="test",
                   help="which split to evaluate (default: test)")
    e.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files with a saved network (or the "
                       "shipped one)",
                       usage="nndl predict [-h] [MODEL.json ...] IMAGE [IMAGE ...]")
    p.add_argument("images", metavar="[MODEL.json ...] IMAGE", nargs="+",
                   help="a saved network (a .json file; without one, nndl's shipped MNIST "
                        "network; several: a committee, the mean of their output "
                        "probabilities), then PNG/JPEG/... files up to 50 Mpixels; each is "
                        "turned into a centred 28x28 digit the way MNIST was made")
    p.add_argument("--show", metavar="FILE.png",
                   help="also save the 28x28 input the network saw (several images: side by side)")
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

    rep = sub.add_parser("report", help="gather reproduced results into one HTML and Markdown page",
                         description="Read every OUT/NAME/metrics.json that 'nndl reproduce' "
                         "wrote and write OUT/report.html and OUT/report.md: each experiment's "
                         "claims with the book's number beside ours, its verdict and its plots. "
                         "An unreadable metrics file is skipped with a warning.")
    rep.add_argument("--out", default="reproduction",
                     help="the folder 'nndl reproduce' wrote to (default: reproduction)")
    rep.set_defaults(handler=cmd_report)

    from .completion import SHELLS
    c = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                       description="Print a completion script for the nndl command, made "
                       "from this version's own flags.  Load it with "
                       "eval \"$(nndl completion bash)\" in ~/.bashrc (or zsh and ~/.zshrc).")
    c.add_argument("shell", choices=SHELLS)
    c.set_defaults(handler=cmd_completion)
    return parser


def cmd_completion(args):
    """Print the completion script for the shell asked for."""
    from .completion import script
    sys.stdout.write(script(build_parser(), args.shell))
    return 0


# ------------------------------------------------------------------- train
def cmd_train(args):
    """Train a network as the flags say; print one line per epoch and the
    final test accuracy; optionally save the model and the metrics."""
    from . import engines
    from .callbacks import EpochPrinter, WallClock
    from .run import measure_test_accuracy, run_summary, save_outputs

    started = time.perf_counter()
    engines.LEAN_NUMBA = True      # this process runs only nndl: see the function's docstring
    config = run_config(args)
    if config.members != 1 or config.out is not None:
        return cmd_committee(args, config)
    run = build_run(config)
    if config.seed is None and config.resume is None:     # resuming: the checkpoint's seed
        print(f"seed: {run.config.seed} (drawn; --seed {run.config.seed} repeats this run)",
              flush=True)
    printer = EpochPrinter(config.evaluate_on, show_eta=config.lr_schedule is not None)
    state = run.train([WallClock(started), printer])
    summary = run_summary(run, state)
    test_accuracy = measure_test_accuracy(run) if config.test else None
    print_run_end(run, state, summary, test_accuracy)
    written = save_outputs(run, state, test_accuracy, summary,
                           sources={k: getattr(args, k, None) for k in SOURCE_OPTIONS})
    if config.save in written:
        print(f"saved network to {config.save}")
    if config.plot in written:
        print(f"wrote {config.plot}")
    return 0


def print_run_end(run, state, summary, test_accuracy):
    """The lines after a run's epochs: why it stopped, which weights it
    kept, the test accuracy (None: not measured) and the engine."""
    if summary["stop_reason"]:
        print(f"stopped: {summary['stop_reason']}")
    print(weights_line(summary, run.config.evaluate_on))
    if test_accuracy is not None:
        n_test = len(run.splits.test)
        print(f"test accuracy: {test_accuracy:.2%} ({round(test_accuracy * n_test)} "
              f"/ {n_test})")
    print(f"engine: {state.engine} ({state.engine_reason})", flush=True)


def cmd_committee(args, config):
    """Train a committee (--members N --out DIR) with nndl.committee: each
    member's epoch lines as 'train' prints them, then the committee's
    accuracy by size on the validation set and on the test set."""
    import warnings
    from .callbacks import EpochPrinter, WallClock
    from .committee import COMMITTEE_FILE, train_committee

    def callbacks(k):
        return [WallClock(), EpochPrinter(config.evaluate_on,
                                          show_eta=config.lr_schedule is not None)]

    def on_member(k, run, state, summary, test_accuracy):
        print_run_end(run, state, summary, test_accuracy)
        print(f"saved member {k} to {run.config.save}", flush=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = train_committee(config, callbacks=callbacks, report=say, on_member=on_member,
                              sources={k: getattr(args, k, None) for k in SOURCE_OPTIONS})
    for message in dict.fromkeys(str(w.message) for w in caught):   # once, not per member
        print(f"nndl: warning: {message}", file=sys.stderr)
    if doc["validation_accuracy_by_size"]:
        sizes = "  ".join(f"{n}:{a:.2%}" for n, a in
                          enumerate(doc["validation_accuracy_by_size"], 1))
        print(f"committee validation accuracy by size: {sizes}")
    if doc["test_accuracy"] is not None:
        print(f"committee test accuracy ({doc['combine']}, {config.members} members): "
              f"{doc['test_accuracy']:.2%}")
    print(f"wrote {os.path.join(config.out, COMMITTEE_FILE)} "
          f"(total {doc['total_seconds']:.1f}s, every member's training included)")
    return 0


def weights_line(summary, evaluate_on):
    """Which epoch's weights the network holds, counted from 1 as the epoch
    lines are, and the best epoch when it is another."""
    epoch = summary["weights_epoch"]
    if summary["weights_restored"]:
        return (f"weights: epoch {epoch}, the best {evaluate_on} accuracy "
                f"({summary['best_evaluation_accuracy']:.2%}), restored by early stopping")
    averaged = summary.get("weights_averaged")
    if averaged and averaged["epochs"]:
        a, last = averaged["from_epoch"], averaged["from_epoch"] + averaged["epochs"] - 1
        line = f"weights: the mean of epochs {a}-{last}"
        if averaged["evaluation_accuracy"] is not None:
            line += f" ({evaluate_on} accuracy {averaged['evaluation_accuracy']:.2%})"
        return line
    line = f"weights: epoch {epoch}, the last" if epoch else "weights: untrained (no epoch ran)"
    if summary["best_epoch"] is not None and summary["best_epoch"] + 1 != epoch:
        line += (f"; the best {evaluate_on} accuracy was epoch {summary['best_epoch'] + 1}'s "
                 f"({summary['best_evaluation_accuracy']:.2%})")
    if averaged:
        line += (f"; not averaged: the run ended before epoch {averaged['from_epoch']} "
                 f"(--average-from)")
    return line


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


# ----------------------------------------------------------------- lr-find
def add_lr_find_parser(sub):
    """Register ``nndl lr-find``; flags it does not know go to train's parser."""
    p = sub.add_parser(
        "lr-find", help="estimate the threshold learning rate (the chapter's recipe)",
        description="Find the largest learning rate eta for which the training cost falls "
        "in each of the first few epochs: try eta = 0.01, then 0.1, 1, ... (or 0.001, "
        "0.0001, ...) until that stops, refine within the decade (x2, x5), and recommend "
        "half the threshold.  Every other flag is an 'nndl train' flag (--sizes, --lmbda, "
        "--batch-size, --cost, --train-size, --dataset, --seed, ...) and sets up each try; "
        "each try starts from the same initial weights (--seed, default 0).")
    p.add_argument("--start", type=positive_float, default=0.01,
                   help="first learning rate to try (default: 0.01, as the chapter)")
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="'the first few epochs': how many epochs each try trains (default: 3)")
    p.set_defaults(handler=cmd_lr_find, train_argv=[])


def cmd_lr_find(args):
    """Run the chapter's threshold search and print every try, the threshold
    and the recommended learning rate (half the threshold)."""
    from .data import load_dataset
    from .lrfind import cost_curve, find_threshold, strictly_decreasing

    for word in args.train_argv:
        if word.split("=")[0] in ("--eta", "--epochs", "--monitor"):
            raise ConfigError(f"lr-find sets {word.split('=')[0]} itself; "
                              "use --start and --epochs instead")
    train_parser = build_parser().subcommands["train"]
    base = run_config(train_parser.parse_args(args.train_argv))
    base = base.replace(epochs=args.epochs, seed=0 if base.seed is None else base.seed,
                        monitor=("training-cost",), progress="off")
    splits = load_dataset(base.dataset, validation_size=base.validation_size)

    def decreases(eta):
        costs = cost_curve(base.replace(eta=eta), splits, report=say)
        decreases.costs = costs
        return strictly_decreasing(costs)

    def report(eta, ok):
        curve = " -> ".join(f"{c:.4f}" for c in decreases.costs)
        verdict = "decreases" if ok else "does not decrease"
        if decreases.costs[-1] == float("inf"):
            verdict += " (diverged)"
        print(f"eta {eta:<8g} training cost {curve}  {verdict}", flush=True)

    with np.errstate(all="ignore"):              # a too-large eta may overflow: that is the point
        threshold = find_threshold(decreases, args.start, report)
    print(f"threshold: eta = {threshold:g} (the largest tried for which the training cost "
          f"fell in each of the first {args.epochs} epochs)")
    print(f"recommended: --eta {threshold / 2:g} (half the threshold)")
    return 0


# ------------------------------------------------------------------ search
def add_search_parser(sub):
    """Register ``nndl search``."""
    from .search.study import DEFAULT_STORAGE, PRUNERS, SAMPLERS
    s = sub.add_parser(
        "search", help="search hyper-parameters (grid, random, TPE, Gaussian process) with Optuna",
        description="Search over any 'nndl train' options.  Each trial trains with options "
        "drawn from the space file and is scored by its final validation accuracy (never "
        "test accuracy); hopeless trials are pruned from their per-epoch validation accuracy "
        "and diverging ones stopped.  At the end: a ranked table, the best configuration as "
        "an 'nndl train' command and a --config file, its test accuracy (measured once), and "
        "plots.  Trials are stored in a database as they finish, so a killed search resumes "
        "and several workers can share one study.")
    s.add_argument("--space", metavar="SPACE.toml",
                   help="the search space: keys are 'nndl train' flag names; a value "
                        '{type="float"|"int"|"categorical", ...} is searched, anything else '
                        "fixed (needed to start a study; workers read it from the study)")
    s.add_argument("--trials", type=positive_int, default=None,
                   help="finish this many trials in the study as a whole, counting earlier "
                        "runs and other workers (default: the study's, or 20 for a new one)")
    s.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="tpe (default), random, grid (every combination; needs steps or "
                        "choices), gp (needs PyTorch and SciPy)")
    s.add_argument("--pruner", choices=PRUNERS, default=None,
                   help="stop hopeless trials early: median (default), halving "
                        "(successive halving), none")
    s.add_argument("--storage", default=DEFAULT_STORAGE,
                   help="database URL (sqlite:///FILE.db, postgresql://user:pw@host/db, any "
                        f"SQLAlchemy URL) or a SQLite file path (default: {DEFAULT_STORAGE})")
    s.add_argument("--study", default="nndl-search", help="study name (default: nndl-search)")
    s.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                   help="stop starting trials after S seconds")
    s.add_argument("--seed", type=P.SAMPLER_SEED.argtype(), default=None,
                   help="seed for the sampler (0 to 2**32-1)")
    s.add_argument("--worker", action="store_true",
                   help="join the study and run trials only (no report)")
    s.add_argument("--out", metavar="DIR", default=None,
                   help="where to write best.toml, best-model.json and the plots "
                        "(default: search-STUDY)")
    s.add_argument("--top", type=positive_int, default=10, help="rows in the table (default: 10)")
    s.set_defaults(handler=cmd_search)


def cmd_search(args):
    """Run (or join, or resume) a search; then report, unless a worker."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("nndl search needs Optuna: pip install 'nndl[search]'") from None
    from pathlib import Path

    from .search.command import Progress, report
    from .search.objective import Objective
    from .search.space import Space
    from .search.study import finished, open_storage, open_study, run_trials

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out = Path(args.out or f"search-{args.study}")
    if not args.worker:                  # what the report needs, checked before any trial
        check_report_possible(out)
    space = Space.from_toml(args.space) if args.space else None
    storage = open_storage(args.storage, create=space is not None, study=args.study)
    study, space, settings = open_study(storage, args.study, space=space, trials=args.trials,
                                        sampler=args.sampler, pruner=args.pruner,
                                        seed=args.seed)
    objective = Objective(space, report=say)
    target = settings["trials"]
    print(f"study {args.study!r}: {finished(study)} of {target} trials finished; "
          f"sampler {settings['sampler']}, pruner {settings['pruner']}", flush=True)
    try:
        run_trials(study, objective, target, args.timeout, [Progress(target)])
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"the finished trials are stored in {args.storage}; rerun "
                                "the same command to resume the search") from None
    if args.worker:
        return 0
    report(study, objective, out, args.top)
    return 0


def check_report_possible(out):
    """Refuse a search whose report could not be written: an --out folder
    that cannot be made or written, or no matplotlib for the plots."""
    from .plot import pyplot
    from .persistence import check_output_dir
    check_output_dir(out, "--out")
    try:
        pyplot()
    except ConfigError:
        raise ConfigError("nndl search draws its plots with matplotlib, which is not "
                          "installed: pip install 'nndl[plots]' (or run --worker)") from None


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args):
    """Print a saved network's accuracy and cost on one split (several
    networks: ``evaluate_committee``)."""
    from .persistence import load
    if len(args.model) > 1:
        return evaluate_committee(args)
    args.model = args.model[0]
    net = load(args.model)
    data = evaluation_data(args, net.classes)
    from .training import check_data
    check_data(net, data, args.on)
    acc = net.accuracy(data.images, data.labels)
    cost = net.total_cost(data.images, data.labels)
    print(f"{args.on} accuracy: {acc / len(data):.2%} ({acc} / {len(data)})")
    print(f"{args.on} cost: {cost:.4f} (without the regularisation term; 'nndl train' "
          "prints cost+L2, with it)")
    return 0


def evaluation_data(args, classes):
    """The split ``--on`` names; for a --digits model (``classes``) the same
    classes only, said in one line."""
    from .data import load_dataset
    data = getattr(load_dataset(args.dataset, validation_size=args.validation_size), args.on)
    if classes is not None:
        data = data.only_classes(classes)
        print(f"classes: {','.join(map(str, classes))} ({len(data)} {args.on} images)")
    return data


def evaluate_committee(args):
    """Print each model's accuracy and the committee's (mean of their output
    probabilities); models that cannot be combined are refused before the
    data is loaded."""
    from .committee import COMBINE, load_committee
    from .training import check_data
    committee = load_committee(args.model)
    data = evaluation_data(args, committee.classes)
    check_data(committee, data, args.on)
    members, by_size = committee.accuracies(data.images, data.labels)
    for path, correct in zip(args.model, members):
        print(f"{path}: {args.on} accuracy {correct / len(data):.2%} ({correct} / {len(data)})")
    print(f"committee of {len(committee)} ({COMBINE}): {args.on} accuracy: "
          f"{by_size[-1] / len(data):.2%} ({by_size[-1]} / {len(data)})")
    return 0


# ----------------------------------------------------------------- predict
def cmd_predict(args):
    """Classify each image; print the digit and the output probabilities.

    For a softmax output layer the probabilities are its outputs; for sigmoid
    outputs they are the activations normalised to sum to 1.
    """
    from .errors import ImageError
    from .images import load_digit, save_digit_png
    from .persistence import load
    from .outputs import check_output_path
    if args.show:
        check_output_path(args.show, "--show")
    models = []
    while args.images and args.images[0].lower().endswith(".json"):
        models.append(args.images.pop(0))
    args.model = models[0] if models else None
    if not args.images:
        raise ConfigError(f"no image given after the model{'s' if len(models) > 1 else ''} "
                          f"{' '.join(models)}")
    if args.model is None:
        from . import pretrained
        net = pretrained.load()
        print(f"nndl: {pretrained.describe()}", file=sys.stderr, flush=True)
    elif len(models) > 1:
        from .committee import load_committee
        net = load_committee(models)     # classifies by the mean of the members' outputs
    else:
        net = load(args.model)
    if net.sizes[0] != 784:
        raise ConfigError(f"{args.model} expects {net.sizes[0]} inputs, not 28x28 images")
    status, seen = 0, []
    for path in args.images:
        try:
            x = load_digit(path)
        except ImageError as e:   # one line for this file, then on to the next
            print(f"nndl: error: {e}", file=sys.stderr, flush=True)
            status = EXIT_USAGE
            continue
        seen.append(x)
        out = net.feedforward(x[None, :])[0].astype(np.float64)
        probs = out / out.sum() if out.sum() > 0 else np.full_like(out, 1 / len(out))
        labels = net.classes if net.classes is not None else range(len(probs))
        listing = " ".join(f"{d}:{p:.2f}" for d, p in zip(labels, probs))
        print(f"{path}: {labels[int(out.argmax())]}  ({listing})", flush=True)
    if args.show and seen:
        save_digit_png(np.array(seen), args.show)
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
    from .persistence import check_distinct, check_output_path
    check_output_path(args.out, "--out")
    if args.preview is not None:
        check_output_path(args.preview, "--preview")
    check_distinct({"--out": args.out, "--preview": args.preview})
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
    experiments = select(args.names)
    from .persistence import check_output_dir
    check_output_dir(args.out, "--out")
    for experiment in experiments:
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
        status = args.handler(args)
        sys.stdout.flush()                 # a closed pipe is found here, not at exit
        return status
    except BrokenPipeError:                # 'nndl reproduce --list | head -1': stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
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
    except KeyboardInterrupt as e:
        # on a terminal the message starts on its own line, not after '^C' or a progress bar
        start = "\n" if sys.stderr.isatty() else ""
        hint = f"; {e.args[0]}" if e.args else ""
        print(f"{start}nndl: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
