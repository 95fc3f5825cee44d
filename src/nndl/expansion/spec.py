"""spec
~~~~

Distortions as small objects built from a text SPEC, the syntax of
``nndl train --expand`` and ``nndl expand --transform``::

    elastic:alpha=34,sigma=4            Simard et al.'s elastic distortion
    affine:rotate=15,shift=2,skew=10,scale=0.1
                                        a random affine map per image
    shift:pixels=1                      a whole-pixel move up, down, left or
                                        right (the book's expand_mnist.py)

``NAME`` alone takes the defaults.  Several SPECs compose: each image goes
through every transform in the order given (:class:`Compose`).

Each transform is called as ``transform(images, rng)`` on an ``(N, H, W)``
batch and returns a new float32 batch; all its randomness comes from
``rng``, so the same generator state gives the same images.  The call runs
the compiled kernels (:mod:`~nndl.expansion.kernels`);
``transform.reference(images, rng)`` is the same distortion in plain NumPy
(:mod:`~nndl.expansion.transforms`), drawing the same random numbers, and
``transform.apply(src, rows, out, rng, shape)`` distorts rows of a flat
``(N, H*W)`` matrix straight into ``out`` (any float dtype), which is what the
training stream uses.

Large rotations are refused past 180 degrees and warned about past 30
(:class:`LargeRotationWarning`): turned far enough, a 6 becomes a 9 and the
network is taught the wrong label (the chapter's exercise; see
docs/expansion.md).
"""

import warnings

import numpy as np

from ..errors import ConfigError
from . import kernels as K
from . import transforms as T

MAX_SAFE_ROTATION = 30.0     # degrees; beyond this a 6 starts to look like a 9
BLOCK = 256                  # images distorted at a time (keeps arrays in cache)


class LargeRotationWarning(UserWarning):
    """A rotation range large enough to turn one digit into another."""


class Transform:
    """What every transform shares.  A distortion is two steps: ``draw(rng,
    n, shape)`` takes all the random numbers ``n`` images need (cheap,
    NumPy), and ``run(src, rows, out, params, shape)`` distorts the images
    ``src[rows]`` (flat rows of ``shape``; all rows when ``rows`` is None)
    into ``out`` (compiled, without the GIL).  Calling the transform on an
    ``(N, H, W)`` batch does both."""

    def __call__(self, images, rng):
        """Return distorted float32 copies of ``images`` (N, H, W)."""
        images = np.asarray(images, dtype=np.float32)
        n, h, w = images.shape
        out = np.empty((n, h * w), np.float32)
        self.apply(images.reshape(n, h * w), None, out, rng, (h, w))
        return out.reshape(n, h, w)

    def apply(self, src, rows, out, rng, shape):
        """Draw and run: write the distorted ``src[rows]`` into ``out``."""
        n = len(src) if rows is None else len(rows)
        return self.run(src, rows, out, self.draw(rng, n, shape), shape)


class Elastic(Transform):
    """Elastic distortion (Simard et al. 2003): Gaussian-smoothed random
    displacements of width ``sigma`` pixels, scaled by ``alpha``.

    The fields are made in the low-rank basis (``transforms.elastic_lowrank``:
    the same distribution as smoothing a uniform field, from a few normal
    numbers); ``exact=True`` smooths a fresh uniform field per pixel as the
    paper does (``transforms.elastic``), several times slower."""

    name = "elastic"
    defaults = {"alpha": 34.0, "sigma": 4.0}

    def __init__(self, alpha=34.0, sigma=4.0, exact=False):
        if not alpha >= 0:
            raise ConfigError(f"elastic: alpha must be >= 0, got {alpha}")
        if not 0 < sigma <= 100:
            raise ConfigError(f"elastic: sigma must be in (0, 100] pixels, got {sigma}")
        self.alpha, self.sigma, self.exact = float(alpha), float(sigma), bool(exact)

    def draw(self, rng, n, shape):
        """The raw uniform fields (exact) or the low-rank coefficients."""
        if self.exact:
            return T.uniform_fields(rng, n, *shape)
        return T.lowrank_coefficients(rng, n, K.lowrank_counts(shape, self.sigma))

    def run(self, src, rows, out, params, shape):
        """Distort ``src[rows]`` into ``out`` with the compiled kernel."""
        if self.exact:
            return K.elastic_from_fields(src, rows, out, params, self.alpha, self.sigma, shape)
        return K.elastic_lowrank(src, rows, out, params, self.alpha, self.sigma, shape)

    def reference(self, images, rng):
        """The same distortion in NumPy, from the same random numbers."""
        if self.exact:
            return T.elastic(images, rng, self.alpha, self.sigma)
        return T.elastic_lowrank(images, rng, self.alpha, self.sigma)

    def __repr__(self):
        return f"elastic:alpha={self.alpha:g},sigma={self.sigma:g}"


class Affine(Transform):
    """A random affine map per image: rotation up to ``rotate`` degrees, skew
    up to ``skew`` degrees, scaling by up to ``scale`` (a fraction) and a move
    of up to ``shift`` pixels along each axis (see ``random_affine``)."""

    name = "affine"
    defaults = {"rotate": 0.0, "shift": 0.0, "skew": 0.0, "scale": 0.0}

    def __init__(self, rotate=0.0, shift=0.0, skew=0.0, scale=0.0):
        if not 0 <= rotate <= 180:
            raise ConfigError(f"affine: rotate must be in [0, 180] degrees, got {rotate}")
        if rotate > MAX_SAFE_ROTATION:
            warnings.warn(f"affine: rotations up to {rotate:g} degrees can turn a 6 into a 9 "
                          f"(and a 9 into a 6) while keeping its label; keep rotate <= "
                          f"{MAX_SAFE_ROTATION:g}", LargeRotationWarning, stacklevel=2)
        if not 0 <= shift <= 14:
            raise ConfigError(f"affine: shift must be in [0, 14] pixels, got {shift}")
        if not 0 <= skew <= 45:
            raise ConfigError(f"affine: skew must be in [0, 45] degrees, got {skew}")
        if not 0 <= scale < 1:
            raise ConfigError(f"affine: scale must be in [0, 1), got {scale}")
        self.rotate, self.shift, self.skew, self.scale = map(float, (rotate, shift, skew, scale))

    def draw(self, rng, n, shape):
        """Each image's inverse map and move (``transforms.random_affine_maps``)."""
        return K.affine_params(*T.random_affine_maps(rng, n, self.rotate, self.shift,
                                                     self.skew, self.scale))

    def run(self, src, rows, out, params, shape):
        """Distort ``src[rows]`` into ``out`` with the compiled kernel."""
        return K.affine(src, rows, out, params, shape)

    def reference(self, images, rng):
        """The same distortion in NumPy, from the same random numbers."""
        return T.random_affine(images, rng, self.rotate, self.shift, self.skew, self.scale)

    def __repr__(self):
        return (f"affine:rotate={self.rotate:g},shift={self.shift:g},"
                f"skew={self.skew:g},scale={self.scale:g}")


class Shift(Transform):
    """Move each image ``pixels`` whole pixels down, up, right or left (one of
    the four at random); ``variant(images, k)`` gives the k-th of the four,
    in the order of the book's ``expand_mnist.py``."""

    name = "shift"
    defaults = {"pixels": 1.0}
    variants = len(T.BOOK_SHIFTS)

    def __init__(self, pixels=1):
        if pixels != int(pixels) or not 1 <= pixels <= 14:
            raise ConfigError(f"shift: pixels must be a whole number in [1, 14], got {pixels}")
        self.pixels = int(pixels)

    def variant(self, images, k):
        """Return every image moved in the book's k-th direction (k in 0..3)."""
        down, right = T.BOOK_SHIFTS[k]
        return T.shift_pixels(np.asarray(images, np.float32), down * self.pixels, right * self.pixels)

    def draw(self, rng, n, shape):
        """Each image's direction, 0..3."""
        return rng.integers(0, self.variants, n)

    def run(self, src, rows, out, params, shape):
        """Move each image of ``src[rows]`` in its direction into ``out``."""
        images = np.asarray(src if rows is None else src[rows]).reshape(-1, *shape)
        out[...] = self._moved(images, params).reshape(len(images), -1)
        return out

    def reference(self, images, rng):
        """Return each image moved in a direction drawn at random (exact
        copying: NumPy is the fast way)."""
        return self._moved(images, self.draw(rng, len(images), None))

    def _moved(self, images, which):
        images = np.asarray(images, dtype=np.float32)
        out = np.empty_like(images)
        for k in range(self.variants):
            chosen = which == k
            out[chosen] = self.variant(images[chosen], k)
        return out

    def __repr__(self):
        return f"shift:pixels={self.pixels}"


TRANSFORMS = {cls.name: cls for cls in (Elastic, Affine, Shift)}


class Compose(Transform):
    """Several transforms applied one after another to every image (calling
    it puts an ``(N, H, W)`` batch through every one in turn, compiled)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        if not self.transforms:
            raise ConfigError("no transform given")

    def _blocks(self, n):
        """Several transforms take their random numbers a block of
        :data:`BLOCK` images at a time, one transform after the other."""
        size = BLOCK if len(self.transforms) > 1 else max(n, 1)
        return [(k, min(n, k + size)) for k in range(0, n, size)]

    def draw(self, rng, n, shape):
        """Each transform's random numbers for ``n`` images, block by block."""
        drawn = [[] for _ in self.transforms]
        for lo, hi in self._blocks(n):
            for params, t in zip(drawn, self.transforms):
                params.append(t.draw(rng, hi - lo, shape))
        return [np.concatenate(p) if p else None for p in drawn]

    def run(self, src, rows, out, params, shape):
        """Put ``src[rows]`` through every transform into ``out``;
        intermediate images are float32."""
        n = len(src) if rows is None else len(rows)
        scratch = [np.empty((n, out.shape[1]), np.float32)
                   for _ in range(min(2, len(self.transforms) - 1))]
        source, index = src, rows
        for s, (t, p) in enumerate(zip(self.transforms, params)):
            dest = out if s == len(self.transforms) - 1 else scratch[s % 2]
            if n:
                t.run(source, index, dest, p, shape)
            source, index = dest, None
        return out

    def reference(self, images, rng):
        """The same in NumPy: the same blocks, the same random numbers."""
        images = np.asarray(images, dtype=np.float32)
        out = np.empty_like(images)
        for lo, hi in self._blocks(len(images)):
            block = images[lo:hi]
            for t in self.transforms:
                block = t.reference(block, rng)
            out[lo:hi] = block
        return out

    def __repr__(self):
        return " then ".join(map(repr, self.transforms))


def parse_spec(text):
    """Return the transform named by one SPEC such as ``elastic:alpha=34,sigma=4``.

    Raises ConfigError naming the problem (unknown transform or parameter,
    a value that is not a number or is out of range).
    """
    name, _, params = str(text).strip().partition(":")
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown transform {name!r} in {text!r}; choose from "
                          f"{', '.join(TRANSFORMS)}")
    cls = TRANSFORMS[name]
    values = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in cls.defaults:
            raise ConfigError(f"{name}: expected KEY=VALUE with KEY one of "
                              f"{', '.join(cls.defaults)}, got {item!r}")
        try:
            values[key] = float(value)
        except ValueError:
            raise ConfigError(f"{name}: {key} must be a number, got {value!r}") from None
        if not np.isfinite(values[key]):
            raise ConfigError(f"{name}: {key} must be finite, got {value!r}")
    return cls(**values)


def parse_specs(texts):
    """Return the :class:`Compose` of the transforms named by a list of SPECs."""
    if isinstance(texts, str):
        texts = [texts]
    return Compose(parse_spec(t) for t in texts)
