"""One training run: its configuration, its assembly, and its record.

``RunConfig`` holds one field per ``nndl train`` option, each with its
constraint (``nndl.params``) and help text in the field's metadata; the
command line generates its train parser from these fields, so a new option
is one new field.  A config is frozen and checked when made, cross-field
rules included.  ``build(config)`` turns it into a ``Run``: the data (loaded
unless given), the network, optimiser, regulariser, dropout, weight
constraint, expander and the callbacks that steer training.  ``Run.train()``
adds monitoring, the progress bar, the divergence check and checkpointing as
the config says and hands everything to ``nndl.training.train``.

Nothing here changes the config: the values a run works out for itself (the
cost that goes with the output layer, the layer sizes with ``digits``,
lambda from ``lmbda_per_example``) are in ``Run.resolved`` and in the
record of the run (``Run.record()``) that the metrics file and checkpoints
store.
"""

import dataclasses
import hashlib
import json
import platform
from dataclasses import dataclass, field, fields

import numpy as np

from . import params as P
from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .engines import CHOICES as ENGINES  # "auto" and every registered engine
from .errors import ConfigError
from .optimizers import FULL_BATCH, NAMES as OPTIMIZERS

MONITORS = ("training-cost", "training-accuracy", "evaluation-cost", "evaluation-accuracy")
DEFAULT_HIDDEN = 30
DEFAULT_BATCH_SIZE = 10
#: Options of the per-mini-batch loop, refused with a full-batch optimiser.
PER_BATCH_ONLY = ("batch_size", "dropout", "input_dropout", "max_norm", "expand",
                  "lr_schedule", "monitor_every", "engine")
_ADAPTIVE = ("adam", "rmsprop", "adagrad")
_LINE_SEARCH = ("lbfgs", "bfgs", "cg")


def _for(names, keyword):
    """``applies`` for the optimisers ``names``, all taking ``keyword``."""
    return {name: keyword for name in names}


def option(default, constraint, help, *, metavar=None, group=None, applies=None):
    """A RunConfig field: its default, its constraint and its help text.

    ``group`` names options that exclude each other (``--lmbda`` and
    ``--lmbda-per-example``).  ``applies`` makes it a hyper-parameter of
    some optimisers: ``{optimiser name: constructor keyword}``; given with
    any other ``--optimizer`` it is refused.
    """
    return field(default=default, metadata={"constraint": constraint, "help": help,
                                            "metavar": metavar, "group": group,
                                            "applies": applies})


def flag(name):
    """The command-line flag of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class RunConfig:
    """Everything that describes one ``nndl train`` run, checked when made.

    Lists are stored as tuples.  ``sizes``, ``cost`` and ``output`` may be
    None: ``build`` then derives them (784,30,10 or one output per digit;
    the cost that belongs with the output layer).
    """

    dataset: str = option(
        "mnist", P.Text(),
        "mnist (fetched and verified), idx:DIR (MNIST-format IDX files), "
        "or a path to a book-format .pkl.gz (default: mnist)")
    validation_size: int = option(
        None, P.NONNEGATIVE_COUNT,
        "for IDX datasets: training images kept back, from the end, "
        "as validation data (default: 10000, as the book); mnist, .pkl.gz "
        "and .npz data keep their own split and refuse another size")
    sizes: tuple = option(
        None, P.Sizes(),
        "layer sizes, input first (default: 784,30,10; with --digits the "
        "output layer has one neuron per digit)")
    epochs: int = option(30, P.NONNEGATIVE_COUNT,
                         "default: 30 (0 trains nothing: the initial network is measured "
                         "and saved); with a full-batch --optimizer (lbfgs, bfgs, cg, "
                         "newton) each epoch is one iteration on the whole training set")
    batch_size: int = option(None, P.COUNT,
                             f"mini-batch size (default: {DEFAULT_BATCH_SIZE}; not for the "
                             "full-batch optimisers)")
    eta: float = option(None, P.LEARNING_RATE,
                        "learning rate (default: 0.5 for sgd, 0.001 for adam and rmsprop, "
                        "0.01 for adagrad; the full-batch optimisers have none)",
                        applies=_for(("sgd", *_ADAPTIVE), "eta"))
    lmbda: float = option(5.0, P.PENALTY, "regularisation parameter lambda (default: 5.0)",
                          group="lmbda")
    lmbda_per_example: float = option(
        None, P.PENALTY,
        "set lambda = X * (training-set size), so the weight decay "
        "eta*lambda/n per step is the same for any training-set size "
        "(the chapter's 0.1 for 1,000 images and 5.0 for 50,000 is X = 1e-4)",
        metavar="X", group="lmbda")
    regularization: str = option("l2", P.Options("l2", "l1"), "default: l2")
    cost: str = option(
        None, P.Options("cross-entropy", "quadratic", "log-likelihood"),
        "default: the one that belongs with --output: "
        "cross-entropy for sigmoid, log-likelihood for softmax, quadratic for linear")
    activation: str = option("sigmoid", P.Options(*HIDDEN_ACTIVATIONS),
                             "hidden neurons (default: sigmoid)")
    output: str = option(None, P.Options(*OUTPUT_ACTIVATIONS),
                         "output neurons (default: the one that belongs with --cost; sigmoid)")
    momentum: float = option(
        0.0, P.MOMENTUM,
        "momentum co-efficient mu, equations (107)-(108) (default: 0, plain SGD)", metavar="MU",
        applies={"sgd": "mu"})
    nesterov: bool = option(False, P.Flag(),
                            "use Nesterov's accelerated gradient (needs --momentum)",
                            applies={"sgd": "nesterov"})
    optimizer: str = option(
        "sgd", P.Options(*OPTIMIZERS),
        "how the gradient becomes a step: per mini-batch sgd (with --momentum, --nesterov), "
        "adam, rmsprop, adagrad; or full-batch, one iteration per epoch on the whole "
        "training set: lbfgs, bfgs, cg (Polak-Ribiere conjugate gradient), newton (exact "
        "Hessian, damped; tiny networks only) (default: sgd)")
    beta1: float = option(None, P.FRACTION, "adam: first-moment decay (default: 0.9)",
                          metavar="B", applies={"adam": "beta1"})
    beta2: float = option(None, P.FRACTION, "adam: second-moment decay (default: 0.999)",
                          metavar="B", applies={"adam": "beta2"})
    rho: float = option(None, P.FRACTION, "rmsprop: decay of the mean square (default: 0.9)",
                        metavar="R", applies={"rmsprop": "rho"})
    epsilon: float = option(None, P.POSITIVE,
                            "adam, rmsprop, adagrad: added to the denominator (default: 1e-8; "
                            "adagrad 1e-10)", metavar="EPS", applies=_for(_ADAPTIVE, "eps"))
    initial_accumulator: float = option(
        None, P.PENALTY, "adagrad: starting sum of squared gradients (default: 0)",
        metavar="G", applies={"adagrad": "initial_accumulator"})
    lbfgs_memory: int = option(None, P.COUNT, "lbfgs: steps remembered (default: 10)",
                               metavar="M", applies={"lbfgs": "memory"})
    cg_restart: int = option(None, P.COUNT,
                             "cg: restart along the gradient every N iterations at most "
                             "(default: the number of parameters)", metavar="N",
                             applies={"cg": "restart_every"})
    newton_damping: float = option(None, P.POSITIVE,
                                   "newton: starting Levenberg-Marquardt damping mu "
                                   "(default: 0.001)", metavar="MU",
                                   applies={"newton": "damping"})
    newton_tries: int = option(None, P.COUNT,
                               "newton: damped steps tried per iteration before stopping "
                               "(default: 30)", metavar="N", applies={"newton": "max_tries"})
    line_search_trials: int = option(None, P.COUNT,
                                     "lbfgs, bfgs, cg: trial steps per line search before "
                                     "stopping (default: 20)", metavar="N",
                                     applies=_for(_LINE_SEARCH, "max_line_search"))
    gradient_tolerance: float = option(
        None, P.POSITIVE,
        "full-batch optimisers: stop when no gradient entry exceeds TOL (default: 1e-6)",
        metavar="TOL", applies=_for(FULL_BATCH, "gtol"))
    dropout: float = option(
        0.0, P.PROBABILITY,
        "drop each hidden neuron with probability P while training (inverted "
        "dropout: nothing to rescale at test time)", metavar="P")
    input_dropout: float = option(0.0, P.PROBABILITY,
                                  "drop each input pixel with probability P while training",
                                  metavar="P")
    dropout_mask: str = option("batch", P.Options("batch", "example"),
                               "one dropout mask per mini-batch, as the chapter (default), "
                               "or one per example")
    max_norm: float = option(
        None, P.POSITIVE,
        "after each step, scale every neuron's incoming weights back to length C if longer",
        metavar="C")
    early_stopping: int = option(
        None, P.COUNT,
        "stop after N epochs without a better validation accuracy, and keep "
        "the best epoch's weights (no-improvement-in-N)", metavar="N")
    early_stopping_gain: tuple = option(
        None, P.GainRule(),
        "stop when the best validation accuracy rose by less than GAIN (a "
        "fraction) over the last W epochs, and keep the best weights", metavar="W:GAIN")
    average_from: int = option(
        None, P.COUNT,
        "end with the mean of the weights at the end of every epoch from EPOCH on "
        "(Polyak averaging of the last epochs) instead of the last epoch's", metavar="EPOCH")
    lr_schedule: tuple = option(
        None, P.Schedule(),
        "halve: halve eta after each 10 (N) epochs without a better validation "
        "accuracy, stop at eta/128; step: multiply eta by FACTOR every EPOCHS",
        metavar="{halve,halve:N,step:EPOCHS:FACTOR}")
    time_limit: float = option(
        None, P.POSITIVE,
        "stop before an epoch that would end more than MINUTES after training began",
        metavar="MINUTES")
    monitor_every: int = option(None, P.COUNT,
                                "also measure accuracy every K training images (fast feedback)",
                                metavar="K")
    monitor_subset: int = option(100, P.COUNT,
                                 "...on the first M evaluation images (default: 100)",
                                 metavar="M")
    digits: tuple = option(
        None, P.Labels(),
        "train and evaluate on these classes only, e.g. 0,1 (labels become "
        "their positions in this list)")
    init: str = option("default", P.Options("default", "large"),
                       "weights N(0,1/n_in) (default) or N(0,1) (large)")
    train_size: int = option(None, P.COUNT, "train on the first N training images only")
    evaluate_on: str = option("validation", P.Options("validation", "test"),
                              "data monitored after each epoch (default: validation)")
    monitor: tuple = option(
        ("evaluation-accuracy", "evaluation-cost"), P.Subset(*MONITORS),
        "comma-separated quantities to measure each epoch, from "
        f"{', '.join(MONITORS)} (default: evaluation-accuracy,evaluation-cost)")
    seed: int = option(None, P.NONNEGATIVE_COUNT, "random seed; same seed, same run")
    dtype: str = option("float32", P.Options("float32", "float64"),
                        "float32 (default, fast) or float64 (the book's precision)")
    expand: tuple = option(
        (), P.Repeated(P.Text()),
        "distort every training image afresh each epoch: "
        "elastic:alpha=34,sigma=4, affine:rotate=15,shift=2,skew=10,scale=0.1 "
        "or shift:pixels=1; repeat the flag to compose transforms in order", metavar="SPEC")
    engine: str = option("auto", P.Options(*ENGINES),
                         "how training steps are computed: auto (a fast engine when it "
                         "supports every option, else the NumPy reference), or one by name "
                         "(torch: PyTorch, pip install 'nndl[torch]')")
    device: str = option(None, P.Text(),
                         "where the torch engine computes: cpu, cuda or cuda:N (default: a "
                         "GPU if PyTorch sees one, else the CPU); with --engine auto it "
                         "chooses the torch engine")
    test: bool = option(True, P.Flag(),
                        "measure the test accuracy at the end (default); --no-test leaves the "
                        "test set untouched, for runs that choose hyper-parameters")
    save: str = option(None, P.Text(), "save the trained network here", metavar="MODEL.json")
    metrics_out: str = option(None, P.Text(), "write per-epoch metrics here",
                              metavar="FILE.json")
    plot: str = option(None, P.Text(), "draw the run's learning curves (accuracy and cost "
                       "per epoch, as nndl plot does) into this .png or .svg at the end",
                       metavar="FILE.png")
    progress: str = option("auto", P.Options("auto", "on", "off"),
                           "progress bar during each epoch (auto: only on a terminal)")
    checkpoint: str = option(None, P.Text(),
                             "save the whole training state to DIR after every epoch",
                             metavar="DIR")
    resume: str = option(None, P.Text(),
                         "continue the run checkpointed in DIR (give the same flags; "
                         "--epochs may grow); it goes on checkpointing there", metavar="DIR")
    members: int = option(
        1, P.Interval(int, 1, 100, closed="both"),
        "train a committee of N networks, seeded S, S+1, ... (S: --seed), one after "
        "another, that classify by the mean of their output probabilities "
        "(nndl.committee; needs --out)", metavar="N")
    out: str = option(
        None, P.Text(),
        "a committee's folder: each member's model and metrics in DIR/member-K/, the "
        "committee's metrics in DIR/committee.json; a member already there with the same "
        "settings is not trained again", metavar="DIR")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            object.__setattr__(self, f.name, f.metadata["constraint"].check(value, f.name))
        self._check_combinations()

    def _check_combinations(self):
        """The rules that tie options together."""
        from .activations import get_activation
        from .costs import check_pairing, default_output_for, get_cost
        self._check_optimizer()
        cost = get_cost(self.resolved_cost())
        check_pairing(cost, get_activation(self.output) if self.output
                      else default_output_for(cost))
        if self.nesterov and not self.momentum:
            raise ConfigError("Nesterov's accelerated gradient needs a momentum co-efficient "
                              "> 0 (e.g. --momentum 0.9)")
        if self.average_from and (self.early_stopping or self.early_stopping_gain):
            raise ConfigError("--average-from and early stopping both choose the final "
                              "weights (the mean of the last epochs, or the best epoch's); "
                              "give one")
        if self.judges_by_validation() and self.evaluate_on != "validation":
            raise ConfigError("early stopping and the halving schedule choose by validation "
                              "accuracy; choosing by test accuracy would leak the test set "
                              "(drop --evaluate-on test)")

    def _check_optimizer(self):
        """Refuse options that do not apply to the optimiser, and the dense
        methods on networks too large for their matrix (before any data)."""
        name = self.optimizer
        for f in fields(self):
            applies, value = f.metadata["applies"], getattr(self, f.name)
            if applies and name not in applies and value != f.default:
                names = list(applies)
                listed = " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
                raise ConfigError(f"{flag(f.name)} applies to --optimizer {listed}, not {name}")
        if name not in FULL_BATCH:
            return
        for key in PER_BATCH_ONLY:
            if getattr(self, key) != RunConfig.__dataclass_fields__[key].default:
                raise ConfigError(f"{flag(key)} does not apply to --optimizer {name}: a "
                                  "full-batch method steps on the whole training set, once "
                                  "per iteration")
        if name in ("newton", "bfgs"):
            from .fullbatch import check_dense_size
            sizes = self.sizes or (784, DEFAULT_HIDDEN, len(self.digits) if self.digits else 10)
            check_dense_size(sum((a + 1) * b for a, b in zip(sizes, sizes[1:])),
                             {"newton": "Newton's method", "bfgs": "BFGS"}[name])

    def full_batch(self):
        """True if the optimiser is a full-batch method (``nndl.fullbatch``)."""
        return self.optimizer in FULL_BATCH

    def optimizer_options(self):
        """The optimiser's constructor keywords from the options given
        (those left at None take the optimiser's own defaults)."""
        out = {}
        for f in fields(self):
            keyword = (f.metadata["applies"] or {}).get(self.optimizer)
            if keyword is not None and getattr(self, f.name) is not None:
                out[keyword] = getattr(self, f.name)
        return out

    def resolved_optimizer(self):
        """Every optimiser option as this run uses it: the value given, else
        the optimiser's default; None for options of other optimisers.  The
        mini-batch size is among them (None for a full-batch method)."""
        defaults = default_options(self.optimizer)
        out = {"batch_size": None if self.full_batch()
               else self.batch_size or DEFAULT_BATCH_SIZE}
        for f in fields(self):
            applies = f.metadata["applies"]
            if applies and f.default is None:
                value = getattr(self, f.name)
                keyword = applies.get(self.optimizer)
                out[f.name] = None if keyword is None else \
                    value if value is not None else defaults[keyword]
        return out

    def resolved_cost(self):
        """The cost: the one given, else the one that belongs with the output layer."""
        from .costs import cost_for_output
        return self.cost or cost_for_output(self.output)

    def judges_by_validation(self):
        """True if a callback chooses by the validation accuracy."""
        return bool(self.early_stopping or self.early_stopping_gain
                    or (self.lr_schedule and self.lr_schedule[0] == "halve"))

    def needs_evaluation(self):
        """True if anything in the run measures the evaluation data."""
        return (self.judges_by_validation() or self.monitor_every is not None
                or any(m.startswith("evaluation") for m in self.monitor))

    def replace(self, **changes):
        """A copy with ``changes`` (checked like a new config)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        """The options as plain JSON values (tuples become lists)."""
        return json.loads(json.dumps({f.name: getattr(self, f.name) for f in fields(self)}))


def config_field(name):
    """The RunConfig field called ``name`` (underscores), or None."""
    return {f.name: f for f in fields(RunConfig)}.get(name)


# ------------------------------------------------------------------ assembly
@dataclass
class Run:
    """Everything one training run needs, built from a RunConfig by ``build``."""

    config: RunConfig
    network: object
    splits: object
    training: object
    evaluation: object          # None when nothing measures it
    optimizer: object
    regularization: object
    dropout: object = None
    constraint: object = None
    augment: object = None
    steering: list = field(default_factory=list)   # early stopping, schedules, fast monitor
    resolved: dict = field(default_factory=dict)   # cost, sizes, lmbda as worked out
    report: object = None                          # called with one-line notices

    def train(self, callbacks=(), *, check_divergence=True):
        """Train as the config says and return the final ``TrainingState``.

        Callbacks, in order: the progress bar (if on), ``Monitor``,
        ``DivergenceCheck`` (unless ``check_divergence`` is False), the
        steering callbacks, then ``callbacks``, then the checkpoint.
        """
        from .divergence import DivergenceCheck
        from .training import Monitor, ProgressBar, train
        c = self.config
        monitor = Monitor(**{m.replace("-", "_"): True for m in c.monitor})
        progress = ProgressBar(enabled={"auto": None, "on": True, "off": False}[c.progress])
        # a disabled bar is left out: per-batch callbacks cost the fast engines speed;
        # a full-batch iteration has no mini-batches to count
        chain = (([progress] if progress.enabled and not c.full_batch() else []) + [monitor]
                 + ([DivergenceCheck()] if check_divergence else [])
                 + [*self.steering, *callbacks])
        start, history = self._checkpointing(chain)
        try:
            with np.errstate(over="ignore", invalid="ignore"):   # DivergenceCheck reports it
                if c.full_batch():
                    from .fullbatch import minimize
                    return minimize(self.network, self.training, c.epochs, self.optimizer,
                                    regularization=self.regularization,
                                    evaluation=self.evaluation, callbacks=chain,
                                    start_epoch=start, history=history)
                return train(self.network, self.training, c.epochs,
                             self.resolved["batch_size"], self.optimizer,
                             regularization=self.regularization, evaluation=self.evaluation,
                             callbacks=chain, dropout=self.dropout, constraint=self.constraint,
                             augment=self.augment, start_epoch=start, history=history,
                             engine=c.engine, device=c.device, report=self.report)
        except KeyboardInterrupt:
            if progress.bar is not None:     # clear the bar's line: the message gets its own
                progress.bar.close()
            directory = c.resume or c.checkpoint
            if directory is None:
                raise
            raise KeyboardInterrupt(              # how to go on: the message says it
                f"the last finished epoch is checkpointed in {directory}; continue with "
                f"the same options and --resume {directory}") from None

    def record(self):
        """The run's settings as recorded in metrics files: every option, with
        the resolved cost, sizes and lambda."""
        doc = self.config.as_dict()
        doc.update(json.loads(json.dumps(self.resolved)))
        return doc

    def checkpoint_config(self):
        """What a checkpoint records to compare on resuming: every option that
        changes the result, and a fingerprint of the training data."""
        from .checkpoint import RESUME_MAY_DIFFER
        config = {k: v for k, v in self.record().items() if k not in RESUME_MAY_DIFFER}
        digest = hashlib.sha256(self.training.images.tobytes())
        digest.update(self.training.labels.tobytes())
        config["training_data_sha256"] = digest.hexdigest()
        return config

    def _checkpointing(self, callbacks):
        """Set up checkpoint and resume; return (start epoch, history so far).

        Resuming restores the network, generator, optimiser and callbacks,
        after refusing a checkpoint made with settings that would change the
        result.  A Checkpoint callback is appended last when either option is
        given; an existing checkpoint is never overwritten by a fresh run.
        """
        from .checkpoint import (Checkpoint, check_same_config, has_checkpoint,
                                 load_checkpoint, restore)
        c = self.config
        directory = c.resume or c.checkpoint
        if directory is None:
            return 0, []
        config = self.checkpoint_config()
        if c.checkpoint and c.checkpoint != c.resume and has_checkpoint(c.checkpoint):
            raise ConfigError(f"{c.checkpoint} already holds a checkpoint; continue it with "
                              f"--resume {c.checkpoint} or choose another directory")
        start, history = 0, []
        if c.resume:
            saved = load_checkpoint(c.resume)
            check_same_config(c.resume, saved.manifest["config"], config,
                              RunConfig().as_dict())
            resumed = restore(saved, self.network, self.optimizer, callbacks)
            if resumed.epoch > c.epochs:
                raise ConfigError(f"--resume {c.resume}: the checkpoint has {resumed.epoch} "
                                  f"epochs done, more than --epochs {c.epochs}")
            start = c.epochs if resumed.stop else resumed.epoch
            history = resumed.history
            if self.report:
                self.report(f"resuming from {c.resume} after epoch {resumed.epoch}")
        callbacks.append(Checkpoint(directory, config))
        return start, history


def output_paths(config):
    """The files a run writes, as {flag: path} (None where not asked for)."""
    return {"--save": config.save, "--metrics-out": config.metrics_out, "--plot": config.plot}


def check_outputs(config, others=None):
    """Refuse, before any work, an output the run could not write: a folder
    that is missing or read-only, a device, FIFO or socket, two outputs that
    are the same file (``--save X --metrics-out X``), or a ``checkpoint`` /
    ``resume`` folder that cannot be written.  ``others`` ({flag: path})
    adds the caller's outputs (``nndl train --plot``) to the comparison.
    Raises ``OutputError`` naming the flag and the path."""
    from .persistence import check_distinct, check_output_dir, check_output_path
    files = {**output_paths(config), **(others or {})}
    for what, path in files.items():
        if path is not None:
            check_output_path(path, what)
    if config.plot is not None:
        from .plot import check_plot_path
        check_plot_path(config.plot, "--plot")   # .png or .svg, and matplotlib installed
    folders = {"--checkpoint": config.checkpoint, "--resume": config.resume}
    for what, path in folders.items():
        if path is not None:
            check_output_dir(path, what)
    check_distinct({**files, "--checkpoint": config.checkpoint or config.resume})


def draw_seed():
    """A fresh seed for a run not given one, so that it can be repeated."""
    return int(np.random.SeedSequence().generate_state(1)[0])


def with_seed(config):
    """``config`` with a seed: its own, the checkpoint's when resuming
    without one, else a new one drawn by ``draw_seed``."""
    if config.seed is not None:
        return config
    if config.resume:
        from .checkpoint import has_checkpoint, load_checkpoint
        if has_checkpoint(config.resume):     # its seed (None from a checkpoint of nndl 0.1)
            return config.replace(seed=load_checkpoint(config.resume).manifest["config"]
                                  .get("seed"))
    return config.replace(seed=draw_seed())


def build(config, splits=None, *, network=None, optimizer=None, augment=None, report=None):
    """Assemble the run ``config`` describes; return a ``Run``.

    ``splits`` is the data (loaded from ``config.dataset`` if None); the
    ``digits`` and ``train_size`` options are applied to it.  ``network``
    trains a network that already exists instead of a new one (its sizes
    and cost are then the run's), ``optimizer`` continues with an optimiser's
    state, ``augment`` supplies the mini-batches instead of the ``expand``
    specs.  ``report`` (e.g. ``print``) receives one-line notices: the fast
    monitor's measurements, resuming.  Outputs are checked first
    (``check_outputs``), and a config without a seed gets one
    (``with_seed``): ``Run.config.seed`` says which, and the metrics file
    records it.
    """
    if config.members != 1 or config.out is not None:
        raise ConfigError("--members and --out describe a committee, which "
                          "nndl.committee.train_committee trains, one build per member")
    check_outputs(config)
    from .engines.torch_engine import check_device
    check_device(config.engine, config.device)   # PyTorch and the GPU, before any data
    config = with_seed(config)
    splits, sizes, n_validation = _data(config, splits, network)
    training = splits.training.subset(config.train_size) if config.train_size \
        else splits.training
    evaluation = splits.validation if config.evaluate_on == "validation" else splits.test
    if network is None:
        check_sizes_fit(sizes, splits)
    if len(evaluation) == 0:
        if config.needs_evaluation() and config.evaluate_on == "validation":
            raise ConfigError("the dataset has no validation set; use --evaluate-on test")
        evaluation = None if not config.needs_evaluation() else evaluation
    cost = network.cost.name if network is not None else config.resolved_cost()
    net = network if network is not None else make_network(config, sizes, cost)
    if network is None and config.digits:
        net.classes = list(config.digits)         # recorded in the model file
    lmbda = config.lmbda
    if config.lmbda_per_example is not None:
        from .regularization import lmbda_for
        lmbda = lmbda_for(config.lmbda_per_example, len(training))
    from .regularization import make_regularization
    if augment is None and config.expand:
        augment = make_expander(config.expand, config.seed)
        augment.image_shape(training.images.shape[1])
    dropout, constraint = step_pieces(config)
    return Run(config, net, splits, training, evaluation,
               optimizer or make_optimizer_named(config.optimizer, **config.optimizer_options()),
               make_regularization(config.regularization, lmbda), dropout, constraint, augment,
               steering_callbacks(config, report),
               {"cost": cost, "sizes": list(net.sizes), "lmbda": lmbda,
                **config.resolved_optimizer(), "validation_size": n_validation}, report)


def make_network(config, sizes, cost=None):
    """A new ``Network`` of ``sizes`` with the config's neurons, cost, init,
    dtype and seed."""
    from .network import Network
    return Network(sizes, cost=cost or config.resolved_cost(), hidden=config.activation,
                   output=config.output, init=config.init, dtype=config.dtype,
                   seed=config.seed)


def _data(config, splits, network):
    """The data (loaded unless given), with ``digits`` applied, the layer
    sizes, and the number of validation images before ``digits``."""
    from .data import Splits, load_dataset
    if splits is None:
        splits = load_dataset(config.dataset, validation_size=config.validation_size)
    n_validation = len(splits.validation)
    sizes = list(network.sizes) if network is not None else \
        list(config.sizes) if config.sizes else None
    if config.digits:
        digits = list(config.digits)
        present = set(np.unique(splits.training.labels).tolist())
        splits = Splits(*(d.only_classes(digits) if len(d) else d
                          for d in (splits.training, splits.validation, splits.test)))
        if len(splits.training) == 0:
            raise ConfigError(f"no training images have the labels {digits}")
        if sizes is None:
            sizes = [784, DEFAULT_HIDDEN, len(digits)]
        elif sizes[-1] != len(digits):
            raise ConfigError(f"--sizes ends with {sizes[-1]} outputs but --digits "
                              f"chooses {len(digits)} classes")
        missing = [d for d in digits if d not in present]
        if missing:
            raise ConfigError(f"--digits {','.join(map(str, digits))}: no training images have "
                              f"the label{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(map(str, missing))} (the training labels are "
                              f"{_ranges(sorted(present))})")
    return splits, sizes or [784, DEFAULT_HIDDEN, 10], n_validation


def _ranges(labels):
    """'0 to 9', or the labels listed when they are not consecutive."""
    if labels == list(range(labels[0], labels[-1] + 1)) and len(labels) > 2:
        return f"{labels[0]} to {labels[-1]}"
    return ", ".join(map(str, labels))


def check_sizes_fit(sizes, splits):
    """Refuse layer sizes that cannot fit the data's images or labels."""
    n_in = splits.training.images.shape[1]
    if sizes[0] != n_in:
        raise ConfigError(f"--sizes starts with {sizes[0]} inputs but the images have "
                          f"{n_in} pixels")
    from .data.dataset import check_labels
    check_labels(splits, sizes[-1])        # labels beyond the outputs: say which and where
    n_classes = int(max(int(d.labels.max()) for d in (splits.training, splits.test) if len(d))) + 1
    if sizes[-1] != n_classes:
        raise ConfigError(f"--sizes ends with {sizes[-1]} outputs but the labels have "
                          f"{n_classes} classes (0 to {n_classes - 1})")


def step_pieces(config):
    """The per-step pieces: dropout masks and the max-norm constraint (or None)."""
    from .dropout import Dropout
    from .regularization import MaxNorm
    dropout = None
    if config.dropout or config.input_dropout:
        dropout = Dropout(config.dropout, config.input_dropout,
                          per_example=config.dropout_mask == "example")
    return dropout, MaxNorm(config.max_norm) if config.max_norm else None


def steering_callbacks(config, report=None):
    """The callbacks that steer training: early stopping, schedules, the time
    limit and fast monitoring."""
    from .callbacks import (EarlyStopping, FastMonitor, GainRateStopping, HalvingSchedule,
                            StepSchedule, TimeLimit, WeightAveraging)
    callbacks = []
    if config.early_stopping:
        callbacks.append(EarlyStopping(config.early_stopping))
    if config.early_stopping_gain:
        callbacks.append(GainRateStopping(*config.early_stopping_gain))
    if config.lr_schedule and config.lr_schedule[0] == "halve":
        callbacks.append(HalvingSchedule(config.lr_schedule[1]))
    elif config.lr_schedule:
        callbacks.append(StepSchedule(*config.lr_schedule[1:]))
    if config.time_limit:
        callbacks.append(TimeLimit(config.time_limit * 60))
    if config.average_from:
        callbacks.append(WeightAveraging(config.average_from))
    if config.monitor_every:
        callbacks.append(FastMonitor(config.monitor_every, config.monitor_subset, report=report))
    return callbacks


def make_expander(specs, seed):
    """The on-the-fly ``Expander`` for ``expand`` specs (seeded by ``seed``);
    a warning about the specs (large rotations) is a ``warnings`` warning."""
    from .expansion import Expander, parse_specs
    return Expander(parse_specs(list(specs)), seed=seed)


# ------------------------------------------------------------------ results
def run_summary(run, state):
    """Return stop_reason, best_epoch, best_evaluation_accuracy, which
    epoch's weights the network holds, and the fast monitor's points, for
    the printout and the metrics file.

    ``best_epoch`` indexes the history (counted from 0, as each record's
    ``epoch``); ``weights_epoch`` is counted from 1, as the console prints
    epochs: the best epoch's when early stopping restored its weights
    (``weights_restored``), else the last epoch trained (0: none).  With
    ``average_from``, ``weights_averaged`` says which epochs the network's
    weights are the mean of (``epochs`` 0: the run ended before
    ``from_epoch``, and the weights are the last epoch's) and that mean's
    validation accuracy.
    """
    best_epoch = best_accuracy = None
    trackers = [cb for cb in run.steering if getattr(cb, "tracker", None) is not None]
    if trackers:
        best_epoch = trackers[0].tracker.best_epoch
        best_accuracy = trackers[0].tracker.best_accuracy
    elif run.config.evaluate_on == "validation" and state.history and \
            "evaluation_accuracy" in state.history[0]:
        accs = [r["evaluation_accuracy"] for r in state.history]
        best_epoch = int(np.argmax(accs))
        best_accuracy = accs[best_epoch]
    restored = any(getattr(cb, "restore_best", False) for cb in run.steering)
    summary = {"stop_reason": state.stop, "best_epoch": best_epoch,
               "best_evaluation_accuracy": best_accuracy,
               "weights_epoch": (best_epoch if restored and best_epoch is not None
                                 else len(state.history) - 1) + 1,
               "weights_restored": restored and best_epoch is not None}
    from .callbacks import WeightAveraging
    averaging = [cb for cb in run.steering if isinstance(cb, WeightAveraging)]
    if averaging:            # epochs 0: the run ended before from_epoch, nothing averaged
        a = averaging[0]
        summary["weights_averaged"] = {"from_epoch": a.start, "epochs": a.count,
                                       "evaluation_accuracy": a.evaluation_accuracy}
    points = [p for cb in run.steering for p in getattr(cb, "points", [])]
    if points:
        summary["monitor_points"] = points
    return summary


def measure_test_accuracy(run):
    """The trained network's accuracy on the test set (a fraction)."""
    test = run.splits.test
    return run.network.accuracy(test.images, test.labels) / len(test)


def save_outputs(run, state, test_accuracy=None, summary=None, sources=None):
    """Save the network (``config.save``) and write the metrics
    (``config.metrics_out``); return the paths written.

    A write that fails anyway (a full disk, a folder removed during
    training) does not stop the other; the trained network, unless it was
    saved, is kept by ``persistence.save_fallback``, and ``OutputError``
    says what failed and where the network is.
    """
    from .errors import NNDLError, OutputError
    from .persistence import save, save_fallback
    from .plot import plot_runs
    c = run.config
    doc = metrics_document(run, state, test_accuracy, summary, sources)
    writers = {"--save": (c.save, lambda: save(run.network, c.save)),
               "--metrics-out": (c.metrics_out, lambda: write_metrics(c.metrics_out, doc)),
               "--plot": (c.plot, lambda: plot_runs([doc], c.plot))}
    written, failures = [], []
    for what, (path, write) in writers.items():
        if path is None:
            continue
        try:
            write()
            written.append(path)
        except (OSError, NNDLError) as e:
            reason = str(e) if isinstance(e, NNDLError) else (e.strerror or str(e))
            failures.append(f"{what} {reason}" if reason.startswith(f"{path}:")
                            else f"{what} {path}: {reason}")
    if failures:
        if c.save not in written:
            kept = save_fallback(run.network, c.save or "model.json")
            failures.append(f"the trained network is kept in {kept}")
        raise OutputError("; ".join(failures))
    return written


def write_metrics(path, doc):
    """Write the metrics document ``doc`` (``metrics_document``) as JSON, atomically."""
    from .outputs import atomic_write_text
    atomic_write_text(path, json.dumps(doc, indent=2))


def metrics_document(run, state, test_accuracy, summary=None, sources=None):
    """The metrics file's document (schema in the README).

    ``config`` is the run's record, with ``sources`` (where options came
    from: ``preset``, ``config``) before ``checkpoint``, the number of
    training images as ``train_size`` and the versions; ``engine`` records
    which step implementation trained the network and why; ``summary`` adds
    top-level entries (stop_reason, best_epoch, ...).
    """
    from . import __version__
    config = {}
    for key, value in run.record().items():
        if key == "checkpoint":
            config.update(sources or {})
        config[key] = value
    config.update(train_size=len(run.training), nndl_version=__version__,
                  numpy_version=np.__version__, python_version=platform.python_version())
    doc = {"config": config, "engine": {"name": state.engine, "reason": state.engine_reason},
           "epochs": state.history, "test_accuracy": test_accuracy}
    doc.update(summary or {})
    return json.loads(json.dumps(doc))        # as the file holds it (plain JSON types)


# ------------------------------------------------------------ optimisers by name
def optimizer_class(name):
    """The class of the optimiser called ``name`` (sgd: ``SGD``)."""
    from .optimizers import FULL_BATCH, NAMES, PER_STEP
    if name in FULL_BATCH:
        from .fullbatch import METHODS
        return METHODS[name]
    if name not in PER_STEP:
        raise ConfigError(f"unknown optimiser {name!r}; choose from {', '.join(NAMES)}")
    return PER_STEP[name]


def default_options(name):
    """The constructor's defaults of the optimiser called ``name``, e.g.
    {'eta': 0.001, 'beta1': 0.9, ...} for adam (sgd: also Momentum's mu and
    nesterov)."""
    import inspect
    from .optimizers import SGD, Momentum
    classes = [SGD, Momentum] if name == "sgd" else [optimizer_class(name)]
    out = {}
    for cls in classes:
        for key, p in inspect.signature(cls).parameters.items():
            out.setdefault(key, p.default)
    return out


def make_optimizer_named(name, **options):
    """The optimiser called ``name`` with the constructor keywords
    ``options`` (absent ones take the class's defaults): sgd is
    ``optimizers.make_optimizer`` (SGD, or Momentum when ``mu`` > 0); a
    full-batch name is ``nndl.fullbatch.make_method``."""
    from .optimizers import FULL_BATCH, make_optimizer
    if name in FULL_BATCH:
        from .fullbatch import make_method
        return make_method(name, **options)
    if name == "sgd":
        options = {**default_options("sgd"), "mu": 0.0, **options}
        return make_optimizer(options["eta"], options["mu"], options["nesterov"])
    return optimizer_class(name)(**options)
