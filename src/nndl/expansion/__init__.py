"""nndl.expansion
~~~~~~~~~~~~~~

Artificially expanding the training data (chapter 3): distortions of
digit images that keep their label -- rotations, moves, skews, scalings,
and Simard et al.'s elastic distortion -- made fresh every epoch in a
background thread while the network trains, or written to disk once.

* :mod:`~nndl.expansion.transforms` -- the distortions, on batches ``(N, H, W)``
* :mod:`~nndl.expansion.spec`       -- transform objects and their SPEC text
* :mod:`~nndl.expansion.stream`     -- :class:`Expander`, on-the-fly training data
* :mod:`~nndl.expansion.store`      -- expanded ``.npz`` files and preview PNGs
"""

from nndl.expansion.spec import (Affine, Compose, Elastic, LargeRotationWarning, Shift,
                                 parse_spec, parse_specs)
from nndl.expansion.stream import Expander
from nndl.expansion.transforms import (bilinear_sample, elastic, random_affine, rotate, scale,
                                       shear, shift_pixels, translate)

__all__ = ["Affine", "Compose", "Elastic", "Expander", "LargeRotationWarning", "Shift",
           "bilinear_sample", "elastic", "parse_spec", "parse_specs", "random_affine",
           "rotate", "scale", "shear", "shift_pixels", "translate"]
