"""The chapter's recipe for the learning rate, as a command: ``nndl lr-find``.

"We estimate the threshold value for eta at which the cost on the training
data immediately begins decreasing, instead of oscillating or increasing ...
starting with eta = 0.01.  If the cost decreases during the first few
epochs, then you should successively try eta = 0.1, 1.0, ... until you find a
value for eta where the cost oscillates or increases during the first few
epochs.  Alternately, if the cost oscillates or increases ... when
eta = 0.01, then try eta = 0.001, 0.0001, ... You may optionally refine your
estimate, to pick out the largest value of eta at which the cost decreases
during the first few epochs ... use a value for eta that is smaller, say, a
factor of two below the threshold."

``find_threshold`` is that search over any yes/no test; ``cost_decreases``
is the test (train a fresh network for a few epochs, watch the training
cost); ``cmd_lr_find`` wires them to the command line.
"""

import math

from .errors import ConfigError

LOWEST, HIGHEST = 1e-6, 1e4      # give up outside these learning rates
REFINE = (2, 5)                  # within a decade: eta, 2 eta, 5 eta


def add_lr_find_parser(sub):
    """Register ``nndl lr-find``; flags it does not know go to train's parser."""
    from .cli import positive_float, positive_int
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


def find_threshold(decreases, start=0.01, report=None):
    """Return the largest learning rate for which ``decreases(eta)`` holds,
    searched as the chapter says: powers of ten from ``start`` up (or down)
    to the first change, then ``REFINE`` multiples within the decade.

    ``decreases`` is called at most a few times per decade; ``report(eta,
    result)`` (optional) sees each try.  Raises ConfigError if no rate from
    LOWEST up makes the cost fall.
    """
    def test(eta):
        eta = float(f"{eta:.6g}")               # 0.1 * 5 prints as 0.5
        result = bool(decreases(eta))
        if report:
            report(eta, result)
        return eta, result

    eta, ok = test(start)
    while not ok:                                # too large: go down a decade at a time
        if eta / 10 < LOWEST:
            raise ConfigError(f"the training cost did not fall for any learning rate down to "
                              f"{LOWEST:g}; check the data and the other settings")
        eta, ok = test(eta / 10)
    while eta * 10 <= HIGHEST:                   # small enough: go up until it stops working
        higher, ok = test(eta * 10)
        if not ok:
            break
        eta = higher
    else:
        return eta
    base = eta
    for factor in REFINE:
        candidate, ok = test(base * factor)
        if not ok:
            break
        eta = candidate
    return eta


def strictly_decreasing(costs):
    """True if every cost is finite and smaller than the one before."""
    return (all(math.isfinite(c) for c in costs)
            and all(b < a for a, b in zip(costs, costs[1:])))


def cost_curve(args, splits):
    """Train a fresh network as ``args`` say; return the training cost before
    training and after each epoch (regularisation term included)."""
    from .cli import prepare_run, run_training
    from .network import mean_cost
    from .regularization import make_regularization

    run = prepare_run(args, splits=splits)
    reg = make_regularization(args.regularization, args.lmbda)
    before = mean_cost(run.net, run.training.images, run.training.labels, reg)
    state = run_training(run)
    return [before] + [r["training_cost"] for r in state.history]


def cmd_lr_find(args):
    """Run the chapter's threshold search and print every try, the threshold
    and the recommended learning rate (half the threshold)."""
    import numpy as np

    from .cli import build_parser
    from .data import load_dataset

    for word in args.train_argv:
        if word.split("=")[0] in ("--eta", "--epochs", "--monitor"):
            raise ConfigError(f"lr-find sets {word.split('=')[0]} itself; "
                              "use --start and --epochs instead")
    train_parser = build_parser().subcommands["train"]
    base = train_parser.parse_args(args.train_argv)
    seed = 0 if base.seed is None else base.seed
    splits = load_dataset(base.dataset, validation_size=base.validation_size)

    def decreases(eta):
        argv = args.train_argv + [f"--eta={eta}", f"--epochs={args.epochs}", f"--seed={seed}",
                                  "--monitor=training-cost", "--progress=off"]
        costs = cost_curve(train_parser.parse_args(argv), splits)
        decreases.costs = costs
        return strictly_decreasing(costs)

    def report(eta, ok):
        curve = " -> ".join(f"{c:.4f}" for c in decreases.costs)
        print(f"eta {eta:<8g} training cost {curve}  "
              f"{'decreases' if ok else 'does not decrease'}", flush=True)

    with np.errstate(all="ignore"):              # a too-large eta may overflow: that is the point
        threshold = find_threshold(decreases, args.start, report)
    print(f"threshold: eta = {threshold:g} (the largest tried for which the training cost "
          f"fell in each of the first {args.epochs} epochs)")
    print(f"recommended: --eta {threshold / 2:g} (half the threshold)")
    return 0
