"""Stopping a run the moment it diverges.

With too large a learning rate (eta = 10^4 with the chapter's network, say)
the weights blow up to inf and then NaN within a few dozen mini-batches, and
every later epoch is wasted work that ends in a useless model.
``DivergenceCheck`` is a callback that raises ``DivergenceError`` ("diverged
at epoch E, batch B") as soon as that happens; the command line turns it into
exit status 3.  Because it raises from inside the loop, nothing after it runs:
no checkpoint of the broken state is written and no model is saved, so the
last good checkpoint and any earlier model file stay as they were.

Cost.  After every mini-batch it sums the output layer's biases (one small
reduction).  That is enough: a NaN anywhere in the network reaches every
output neuron in the next forward pass (NaN * 0 is NaN), so the output
biases' gradient, and then the biases, become NaN within one step.  At the
end of every epoch -- before any checkpoint -- it checks every weight and
bias and every monitored cost, which also catches an infinite weight that
happens not to have produced a NaN.  ``scripts/bench_divergence.py``
measures the overhead.
"""

import math

import numpy as np

from .errors import DivergenceError


class DivergenceCheck:
    """Raise ``DivergenceError`` when a parameter or a monitored cost is NaN or inf.

    Put it after ``Monitor`` (so it sees this epoch's costs) and before
    ``Checkpoint`` (so a diverged state is never saved).

    The fast engines stop at the first step that leaves an output bias
    non-finite by themselves and set ``state.batch`` to it, so with them
    training skips the per-batch call (``engine_may_check``) and the
    epoch-end check reports the same epoch and batch.
    """

    engine_may_check = True

    def on_batch_end(self, state):
        """Check the output biases: NaN anywhere reaches them within one step."""
        if not math.isfinite(float(state.network.biases[-1].sum())):
            raise _diverged(state, "the output biases")

    def on_epoch_end(self, state):
        """Check every parameter and every monitored number of this epoch."""
        net = state.network
        for kind, arrays in (("weights", net.weights), ("biases", net.biases)):
            for l, a in enumerate(arrays):
                if not np.isfinite(a).all():
                    raise _diverged(state, f"{kind}[{l}]")
        for key, value in state.history[-1].items():
            if isinstance(value, float) and not math.isfinite(value):
                raise _diverged(state, f"the {key.replace('_', ' ')} ({value})")


def _diverged(state, where):
    """The error for a run that went non-finite in ``where`` (1-based epoch and batch)."""
    return DivergenceError(
        f"diverged at epoch {state.epoch + 1}, batch {max(state.batch, 1)}: {where} became "
        f"NaN or infinite (the learning rate is probably too large)")
