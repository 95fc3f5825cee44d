"""nndl: chapter 3 of Nielsen's *Neural Networks and Deep Learning*, done properly.

The pieces, one idea per module:

* ``network``        -- layers, forward pass, matrix-based backpropagation
* ``activations``    -- sigmoid, tanh, ReLU, linear, softmax
* ``costs``          -- quadratic, cross-entropy, log-likelihood (fn and delta)
* ``regularization`` -- L2 and L1 as gradient terms
* ``optimizers``     -- how a gradient becomes a step: SGD, momentum, Nesterov
* ``dropout``        -- dropout masks for the training step
* ``training``       -- the SGD loop and its monitoring callbacks
* ``callbacks``      -- early stopping, learning-rate schedules, fast monitoring
* ``sklearn``        -- a scikit-learn classifier (needs the 'sklearn' extra)
* ``data``           -- MNIST (fetched and verified), IDX files
* ``persistence``    -- JSON model files, atomic writes
* ``checkpoint``     -- saving and resuming a training run
* ``cli``            -- the ``nndl`` command
"""

__version__ = "0.1.0"

from .costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost  # noqa: E402
from .errors import (CheckpointError, ChecksumError, ConfigError, DataError,  # noqa: E402
                     DivergenceError, FetchError, ImageError, ModelFileError, NNDLError)
from .network import Network  # noqa: E402

__all__ = ["Network", "QuadraticCost", "CrossEntropyCost", "LogLikelihoodCost",
           "NNDLError", "ConfigError", "DataError", "ChecksumError", "FetchError",
           "ImageError", "ModelFileError", "CheckpointError", "DivergenceError", "__version__"]
