"""Turn a user's own image of a handwritten digit into an MNIST-style input.

A network trained on MNIST only knows digits that look like MNIST digits:
bright ink on a black 28x28 field, the digit scaled so that its longer side is
20 pixels, and placed so that the centre of mass of its ink is at the centre
of the field.  ``preprocess`` repeats that recipe for any 2-D grayscale array,
and ``load_digit`` reads an image file (anything Pillow reads, any size)
safely and hands its pixels to ``preprocess``.
"""

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nndl.errors import ImageError

SIDE = 28           # MNIST images are SIDE x SIDE pixels ...
BOX = 20            # ... with the digit scaled to fit a BOX x BOX square.
INK = 0.1           # a pixel is ink if brighter than this fraction of the peak
MIN_CONTRAST = 0.03  # less contrast than this (of full scale) counts as blank


def preprocess(array2d):
    """Return the 784-vector the network should see for a grayscale image.

    ``array2d`` is a 2-D array of gray levels (uint8 0..255, or floats in
    [0, 1] or 0..255), dark ink on light paper or light ink on dark.  The
    steps are the ones used to make MNIST: make the ink bright on a black
    background, crop to the ink's bounding box, scale that box (keeping its
    aspect ratio) so its longer side is 20 pixels, and paste it into a 28x28
    black field with the ink's centre of mass at (14, 14).  The result is a
    float32 vector of shape (784,) scaled like the book's MNIST (pixel/256,
    so in [0, 1)).  Raises ImageError if there is no digit to find.
    """
    a = np.asarray(array2d)
    if a.ndim != 2 or a.size == 0:
        raise ImageError(f"expected a non-empty 2-D grayscale array, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        scale = float(np.iinfo(a.dtype).max)
    else:
        scale = 1.0
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ImageError("image contains NaN or infinite values")
    if scale == 1.0 and a.max() > 1.0:
        scale = 255.0
    lo, hi = a.min(), a.max()
    if (hi - lo) < MIN_CONTRAST * scale:
        raise ImageError("no digit found (image is blank)")
    a = (a - lo) / (hi - lo)

    # Polarity: the border is mostly background; if it is light, the ink is
    # dark, so invert.  Then subtract the background level so it becomes 0.
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        a, background = 1.0 - a, 1.0 - background
    a = np.clip(a - background, 0.0, None)
    if a.max() <= 0.0:
        raise ImageError("no digit found (image is blank)")
    a /= a.max()

    # Crop to the bounding box of the ink.
    ink = a > INK
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    a = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]

    # Scale the box so that its longer side is BOX pixels, keeping the aspect.
    h, w = a.shape
    s = BOX / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = Image.fromarray(a.astype(np.float32)).resize((nw, nh), Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)  # Lanczos overshoots
    digit /= digit.max()

    # Paste so that the centre of mass lands on the centre of the field.
    total = digit.sum()
    cy = (np.arange(nh) * digit.sum(axis=1)).sum() / total
    cx = (np.arange(nw) * digit.sum(axis=0)).sum() / total
    top = min(max(int(np.floor(SIDE / 2 - cy + 0.5)), 0), SIDE - nh)
    left = min(max(int(np.floor(SIDE / 2 - cx + 0.5)), 0), SIDE - nw)
    field = np.zeros((SIDE, SIDE))
    field[top:top + nh, left:left + nw] = digit

    # Quantise like MNIST's bytes and scale as the book does: pixel / 256.
    return (np.floor(field * 255 + 0.5) / 256).astype(np.float32).reshape(SIDE * SIDE)


def _grayscale(img):
    """Return the pixels of a loaded Pillow image as a 2-D gray-level array.

    Transparent parts are composited onto white, because a transparent PNG is
    usually dark ink drawn on nothing, and nothing should read as paper.
    High-bit-depth images keep their full range as floats.
    """
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        return np.asarray(img.convert("F"))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("L"))


MAX_FILE_BYTES = 100 * 2**20   # a photo of a digit is a few MB at most


def _read_bounded(name, max_bytes):
    """Return the file's bytes as a BytesIO, refusing a file over ``max_bytes``."""
    with open(name, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise ImageError(f"{name}: file is {size} bytes, more than the limit of {max_bytes}")
        return io.BytesIO(f.read())


def load_digit(path, *, max_pixels=50_000_000, max_bytes=MAX_FILE_BYTES):
    """Read an image file and return its MNIST-style 784-vector (see ``preprocess``).

    The image's size is checked against ``max_pixels`` from its header,
    before any pixels are decoded, so that a small file that claims to be
    enormous (a decompression bomb) cannot exhaust memory; Pillow's own bomb
    warning is also treated as an error.  The file itself (at most
    ``max_bytes``) is read into memory first, so that a chunk length field
    claiming gigabytes cannot make the decoder reserve them.  Any failure to
    read the file --
    missing, a directory, not an image, truncated, too large -- is raised as
    an ImageError whose one-line message names the path and the reason.
    """
    name = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(_read_bounded(name, max_bytes)) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(
                        f"{name}: image is {w}x{h} = {w * h} pixels, more than the "
                        f"limit of {max_pixels}; refusing to decode it")
                img.load()
                gray = _grayscale(ImageOps.exif_transpose(img))
    except ImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ImageError(f"{name}: image too large to decode safely: {e}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file Pillow can read") from None
    except OSError as e:
        reason = e.strerror or str(e)
        raise ImageError(f"{name}: cannot read image: {reason}") from None
    except (ValueError, SyntaxError, EOFError, MemoryError) as e:
        raise ImageError(f"{name}: cannot read image: {e}") from None
    try:
        return preprocess(gray)
    except ImageError as e:
        raise ImageError(f"{name}: {e}") from None
