"""The former name of ``nndl.engines``: ``import nndl.fast`` gives that package."""

import sys

from . import engines

sys.modules[__name__] = engines
