"""Dropout: train on random halves of the network (section "Dropout").

The chapter deletes half the hidden neurons for each mini-batch, trains the
thinned network, and at test time -- when all neurons are present -- halves
the weights going out of the hidden neurons, so that each neuron receives
the input it was trained on.

nndl implements *inverted* dropout, which is equivalent: during training
each kept unit's output is multiplied by 1/(1-p) instead, and at test time
nothing changes.  For every mask the thinned network computes exactly what
the chapter's thinned network computes with outgoing weights (1-p) times
as large, and in both schemes the test-time network's weighted inputs are
the average over masks of the training-time ones (tests/test_techniques.py
checks both by enumerating every mask).  The advantage: ``net.weights`` is
always the network to use, and a saved model needs no rescaling.

A ``Dropout`` object draws the masks; the training step passes them to
``Network.backprop``.  ``masks[l]`` multiplies the input of layer l: l = 0 is
the image (``p_input``), l >= 1 the hidden layers (``p_hidden``); the output
layer is never dropped.
"""

import numpy as np

from .params import PROBABILITY


def check_probability(p, what):
    """Return p as a float in [0, 1), or raise ConfigError naming ``what``."""
    return PROBABILITY.check(p, what)


class Dropout:
    """Draw dropout masks: units are dropped with probability ``p_hidden``
    (hidden layers) or ``p_input`` (input pixels).

    ``per_example=False`` (the chapter's procedure) drops the same neurons for
    every example of a mini-batch; ``per_example=True`` (Hinton et al., 2012)
    draws a new mask for each example.  ``rng`` is a NumPy Generator; by
    default the training loop's generator, so a seeded run repeats exactly.
    """

    def __init__(self, p_hidden=0.5, p_input=0.0, per_example=False, rng=None):
        self.p_hidden = check_probability(p_hidden, "the hidden dropout probability")
        self.p_input = check_probability(p_input, "the input dropout probability")
        self.per_example = bool(per_example)
        self.rng = rng

    @property
    def active(self):
        """True if any unit can be dropped."""
        return self.p_hidden > 0 or self.p_input > 0

    def masks(self, sizes, batch_size, dtype=np.float32):
        """Return one mask per layer input for a mini-batch of ``batch_size``.

        Each mask is 0 for a dropped unit and 1/(1-p) for a kept one, shaped
        (batch_size, n) or, for one mask per mini-batch, (1, n) so that it
        broadcasts over the batch; it is None for a layer with p = 0.
        """
        rng = self.rng if self.rng is not None else np.random.default_rng()
        rows = batch_size if self.per_example else 1
        masks = []
        for l, n in enumerate(sizes[:-1]):
            p = self.p_input if l == 0 else self.p_hidden
            if p == 0:
                masks.append(None)
                continue
            keep = rng.random((rows, n)) >= p
            masks.append(keep.astype(dtype) * dtype(1.0 / (1.0 - p)))
        return masks

    def state_dict(self):
        """Return the settings (the masks are drawn from the training rng)."""
        return {"p_hidden": self.p_hidden, "p_input": self.p_input,
                "per_example": self.per_example}

    def load_state_dict(self, d):
        """Restore the settings saved by ``state_dict``."""
        self.__init__(d["p_hidden"], d["p_input"], d["per_example"], self.rng)
