"""The reference engine: ``sgd_step`` on each mini-batch in turn.

It runs every configuration: any optimiser, regulariser, dropout, weight
constraint and batch source, on any ``Network``-like object with
``backprop``.  The fast engines are tested against it.
"""

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
            sgd_step(network, xb, yb, step.optimizer, step.regularization, step.n,
                              step.dropout, step.constraint)
            if after_batch:
                after_batch(len(xb))
        return None


def sgd_step(network, x, y, optimizer, regularization, n, dropout=None, constraint=None):
    """Take one gradient step on the mini-batch (x, y) out of n training examples.

    The gradient is the mean over the mini-batch, (1/m) sum_x dC_x/dw, plus
    the regularisation term; the optimiser turns it into a step.  With plain
    SGD and L2 this is equation (93) exactly.  With ``dropout`` the gradient
    is that of a thinned network (fresh masks for each mini-batch); a
    ``constraint`` is applied to the weights after the step.  The gradient
    arrays are backprop's fresh ones, scaled and regularised in place and
    then handed to the optimiser as its scratch (see ``nndl.optimizers``).
    """
    masks = None
    if dropout is not None and dropout.active:
        masks = dropout.masks(network.sizes, len(x), network.dtype)
    nabla_b, nabla_w = network.backprop(x, y, masks) if masks else network.backprop(x, y)
    scale = 1.0 / len(x)
    for g in nabla_w:
        g *= scale
    for g in nabla_b:
        g *= scale
    for g, w in zip(nabla_w, network.weights):
        regularization.add_gradient(g, w, n)
    optimizer.update_params(network.weights + network.biases, nabla_w + nabla_b)
    if constraint is not None:
        constraint.apply(network.weights)
