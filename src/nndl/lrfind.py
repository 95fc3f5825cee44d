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
cost); the command line (``nndl.cli``) wires them to ``nndl lr-find``.
"""

import math

import numpy as np

from .errors import ConfigError

LOWEST, HIGHEST = 1e-6, 1e4      # give up outside these learning rates
REFINE = (2, 5)                  # within a decade: eta, 2 eta, 5 eta


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


class _Costs:
    """A callback collecting the training cost after each epoch."""

    def __init__(self, before):
        self.costs = [before]

    def on_epoch_end(self, state):
        self.costs.append(state.history[-1]["training_cost"])


def cost_curve(config, splits, report=None):
    """Train a fresh network as the RunConfig ``config`` says on ``splits``;
    return the training cost before training and after each epoch
    (regularisation term included).

    A try that diverges (``DivergenceError``: the numbers overflowed) ends
    its curve with ``inf``: the cost did not decrease, which is what the
    search is looking for, so it goes on rather than stopping.
    """
    from .errors import DivergenceError
    from .network import mean_cost
    from .run import build

    run = build(config, splits, report=report)
    with np.errstate(all="ignore"):              # a too-large eta may overflow: that is the point
        collect = _Costs(mean_cost(run.network, run.training.images, run.training.labels,
                                   run.regularization))
    try:
        run.train([collect])
    except DivergenceError:
        collect.costs.append(math.inf)
    return collect.costs
