"""The reference engine: ``training.sgd_step`` on each mini-batch in turn.

It runs every configuration: any optimiser, regulariser, dropout, weight
constraint and batch source, on any ``Network``-like object with
``backprop``.  The fast engines are tested against it.
"""

from .. import training
from .base import Engine


class ReferenceEngine(Engine):
    """The readable NumPy step, one mini-batch at a time."""

    name = "reference"
    description = "the reference step"
    stops_on_divergence = False    # a divergence check runs after every step

    @classmethod
    def supports(cls, network, step):
        """Everything: this is the step the others are measured against."""
        return None

    def run_epoch(self, x, y, order, epoch, after_batch=None):
        """Take one step per mini-batch of ``order`` (drawn through the
        step's batch source); call ``after_batch(images)`` after each if
        given.  The optimiser reads its learning rate at every step."""
        step, network = self.step, self.network
        for xb, yb in step.batches(x, y, order, epoch):
            training.sgd_step(network, xb, yb, step.optimizer, step.regularization, step.n,
                              step.dropout, step.constraint)
            if after_batch:
                after_batch(len(xb))
        return None
