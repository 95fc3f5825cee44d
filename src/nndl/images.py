"""Turn a user's own image of a handwritten digit into an MNIST-style input.

A network trained on MNIST only knows digits that look like MNIST digits:
bright ink on a black 28x28 field, the digit scaled so that its longer side is
20 pixels, and placed so that the centre of mass of its ink is at the centre
of the field.  ``preprocess`` repeats that recipe for any 2-D grayscale array,
after finding the digit's ink in what a photograph of paper adds (uneven
lighting, noise, JPEG artefacts, specks, the sheet's dark edge);
``load_digit`` reads an image file (anything Pillow reads, up to 50 Mpixels
and 100 MB) safely and hands its pixels to ``preprocess``; and
``save_digit_png`` saves the 28x28 result, the input the network sees.
Only NumPy and Pillow are used.
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
NOISE_FLOOR = 1.0   # sensor noise: this many standard deviations are taken off the ink ...
NOISE_INK = 4.0     # ... and ink must stand this many above the background
COMPANION = 0.1     # a separate piece of ink at least this fraction of the digit's mass ...
NEAR = 0.5          # ... within this fraction of the digit's size of it belongs to the digit
EDGE_CONTACT = 0.25  # ink along more than this fraction of a side is the paper's edge
MARGIN = 2          # faint pixels this close to the kept ink are kept with it
MAX_SQUARE = 31     # the noise is never averaged over a square larger than this


def preprocess(array2d):
    """Return the 784-vector the network should see for a grayscale image.

    ``array2d`` is a 2-D array of gray levels (uint8 0..255, or floats in
    [0, 1] or 0..255), dark ink on light paper or light ink on dark.  The
    steps are the ones used to make MNIST, after the ink has been found:

    1. *Ink.*  The paper's brightness is estimated as a smooth surface (a
       robust quadratic fit that ignores the ink), so uneven lighting and a
       left-to-right shading are divided out; the sensor noise is measured on
       the paper and taken off.
    2. *The digit.*  Pixels that stand out from the paper are grouped into
       connected pieces (8-connected).  The digit is the heaviest piece,
       favouring the centre, never one that runs along the image's edge (the
       dark edge of a photographed sheet); separate pieces near it with a
       tenth of its mass or more stay (a broken stroke), and everything else
       -- specks, dust, the paper's edge -- is dropped.
    3. *MNIST's placement.*  Crop to the digit's bounding box, scale it
       (keeping its aspect ratio) so its longer side is 20 pixels, and paste
       it into a 28x28 black field with its centre of mass at (14, 14).

    On a clean image (uniform paper, one digit) steps 1 and 2 change nothing.
    The result is float32 of shape (784,) scaled like the book's MNIST
    (pixel/256, so in [0, 1)).  Raises ImageError if there is no digit.
    """
    ink, (r0, r1, c0, c1) = _digit(_ink(_gray_levels(array2d)))
    return _mnist_placement(ink[r0:r1, c0:c1])


def _gray_levels(array2d):
    """Check the array and return it as float64 gray levels in [0, 1]
    (0 black): divided by the dtype's full scale, or by 255 for floats
    beyond 1.  Raises ImageError for a bad or blank array."""
    a = np.asarray(array2d)
    if a.ndim != 2 or a.size == 0:
        raise ImageError(f"expected a non-empty 2-D grayscale array, got shape {a.shape}")
    scale = float(np.iinfo(a.dtype).max) if np.issubdtype(a.dtype, np.integer) else 1.0
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ImageError("image contains NaN or infinite values")
    if scale == 1.0 and a.max() > 1.0:
        scale = 255.0
    lo, hi = a.min(), a.max()
    if (hi - lo) < MIN_CONTRAST * scale:
        raise ImageError("no digit found (image is blank)")
    low, high = min(lo, 0.0), max(hi, scale)      # values outside the scale: stretch it
    a -= low
    a /= high - low
    return a


def _ink(gray):
    """Return the ink map (0 on the paper, up to 1 for the darkest ink) and
    the noise's standard deviation in its units; ``gray`` is overwritten.

    Most of the image is paper, so its median decides the polarity (not its
    border, which in a photograph may be the table around the sheet).  Dark
    ink on light paper: ink = 1 - gray / paper, the fraction of the paper's
    light the ink absorbs, which a shading or a dim corner does not change.
    Light ink on a dark field: ink = gray - background.  The noise measured
    on the paper (``NOISE_FLOOR`` standard deviations) is subtracted.
    """
    lo, hi = gray.min(), gray.max()
    step = max(1, max(gray.shape) // 256)
    dark_ink = np.median(gray[::step, ::step]) > (lo + hi) / 2
    u = np.subtract(1.0, gray, out=gray) if dark_ink else gray   # ink bright (in place)
    background, sigma = _background(u)
    ink = np.subtract(u, background, out=u)
    if dark_ink:
        paper = np.maximum(np.subtract(1.0, background, out=background), 1e-6, out=background)
        ink /= paper
        sigma /= float(np.median(paper[::max(1, paper.shape[0] // 64)]))
    ink -= NOISE_FLOOR * sigma + 1e-9
    return np.clip(ink, 0.0, 1.0, out=ink), sigma


def _background(u, samples=128, rounds=10):
    """Fit a smooth surface (quadratic in x and y) to the paper of ``u``;
    return it at every pixel and the noise's standard deviation about it.

    The fit runs on at most ``samples`` x ``samples`` pixels and is robust:
    it starts from the darker half of the pixels (ink is bright in ``u``),
    and each round refits to the pixels at most 3 standard deviations (from
    the median absolute deviation) above the last fit, so the ink, a speck
    or the edge of the sheet do not pull it.  A uniform paper gives back exactly
    its level and a noise of 0.
    """
    h, w = u.shape
    step = max(1, -(-max(h, w) // samples))
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    design = _quadratic_terms(_unit(ys.ravel(), h), _unit(xs.ravel(), w))
    values = u[::step, ::step].ravel()
    keep = values <= np.median(values)           # start from the darker half: paper
    for _ in range(rounds):
        a = design[keep]
        coef = np.linalg.solve(a.T @ a + 1e-12 * np.eye(a.shape[1]), a.T @ values[keep])
        residual = values - design @ coef
        r = residual[keep]
        sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        new = residual <= 3 * sigma + 1e-6       # ink only ever lies above the paper
        if new.sum() < design.shape[1] or np.array_equal(new, keep):
            break
        keep = new
    y = _unit(np.arange(h), h)[:, None]
    x = _unit(np.arange(w), w)
    c = coef
    surface = np.multiply(c[1] + c[4] * y, x)            # (h, w), built in place
    surface += c[0] + c[2] * y + c[5] * y * y
    surface += c[3] * x * x
    return surface, sigma


def _unit(i, n):
    """Pixel indices 0..n-1 mapped onto [-1, 1] (a well-conditioned fit)."""
    return 2.0 * i / max(n - 1, 1) - 1.0


def _quadratic_terms(y, x):
    """The design matrix of a quadratic surface: columns 1, x, y, x^2, xy, y^2."""
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _digit(ink_and_sigma):
    """Keep the digit's ink and drop the rest (see ``preprocess``, step 2);
    return the cleaned ink map, scaled to peak 1, and the digit's bounding
    box (row0, row1, col0, col1), end-exclusive."""
    ink, sigma = ink_and_sigma
    peak = ink.max()
    if peak <= 0.0:
        raise ImageError("no digit found (image is blank)")
    runs = _Runs(*_ink_mask(ink, peak, sigma))
    kept = runs.digit()
    if kept is None:
        raise ImageError("no digit found (image is blank)")
    ink = np.where(_dilate(runs.paint(kept), MARGIN), ink, 0.0)
    if ink.max() <= 0.0:
        raise ImageError("no digit found (image is blank)")
    return ink / ink.max(), runs.box(kept)


def _ink_mask(ink, peak, sigma):
    """The pixels that are ink: brighter than ``INK`` of the peak.  Where the
    noise could pass that bar (``NOISE_INK`` standard deviations above it),
    the map is first averaged over k x k squares, k just large enough that
    it cannot (at most ``MAX_SQUARE``); a clean image (no noise) is not
    averaged at all.  Returns the mask and the map it was found on (which
    weighs the pieces)."""
    k = _averaging_side(peak, sigma)
    if k <= 1:
        return ink > INK * peak, ink
    smooth = _box_mean(ink, k | 1)
    return smooth > INK * smooth.max(), smooth


def _averaging_side(peak, sigma):
    """The side k of the square ``_ink_mask`` averages over: just large
    enough that ``NOISE_INK`` standard deviations of the noise, divided by
    k, stay under ``INK`` of the peak -- but never more than ``MAX_SQUARE``,
    so ink that barely stands out from the noise costs no more time or
    memory than a noisy photograph (the padded map grows with k)."""
    return int(min(np.ceil(NOISE_INK * sigma / (INK * peak)), MAX_SQUARE))


def _box_mean(a, k):
    """The mean of ``a`` over the k x k square (k odd) centred on each pixel,
    the image's edge repeated beyond it (summed-area table)."""
    r = k // 2
    c = np.pad(a, r, mode="edge").cumsum(axis=0).cumsum(axis=1)
    c = np.pad(c, ((1, 0), (1, 0)))
    h, w = a.shape
    return (c[k:k + h, k:k + w] - c[:h, k:k + w] - c[k:k + h, :w] + c[:h, :w]) / (k * k)


def _mnist_placement(a):
    """Scale the cropped digit so its longer side is ``BOX`` pixels and paste
    it into a ``SIDE`` x ``SIDE`` field with its centre of mass at the centre;
    return the flattened float32 vector, quantised like MNIST's bytes / 256."""
    h, w = a.shape
    s = BOX / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = Image.fromarray(a.astype(np.float32)).resize((nw, nh), Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)  # Lanczos overshoots
    digit /= digit.max()
    total = digit.sum()
    cy = (np.arange(nh) * digit.sum(axis=1)).sum() / total
    cx = (np.arange(nw) * digit.sum(axis=0)).sum() / total
    top = min(max(int(np.floor(SIDE / 2 - cy + 0.5)), 0), SIDE - nh)
    left = min(max(int(np.floor(SIDE / 2 - cx + 0.5)), 0), SIDE - nw)
    field = np.zeros((SIDE, SIDE))
    field[top:top + nh, left:left + nw] = digit
    return (np.floor(field * 255 + 0.5) / 256).astype(np.float32).reshape(SIDE * SIDE)


class _Runs:
    """The connected pieces of a binary mask, as horizontal runs of pixels.

    Run ``i`` covers row ``row[i]``, columns ``start[i]`` to ``end[i] - 1``;
    runs in neighbouring rows that touch (diagonally too) are joined with a
    union-find over runs, all in NumPy, so a 1000x1000 image takes
    milliseconds.  ``weights`` (the ink map) gives each piece its mass.
    """

    def __init__(self, mask, weights):
        self.shape = h, w = mask.shape
        edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        self.row, self.start = np.nonzero(edges == 1)
        self.end = np.nonzero(edges == -1)[1]
        self.piece = self._join()
        sums = np.zeros((h, w + 1), dtype=np.float32)   # float32: enough to weigh pieces
        np.cumsum(weights, axis=1, dtype=np.float32, out=sums[:, 1:])
        mass = (sums[self.row, self.end] - sums[self.row, self.start]).astype(np.float64)
        column = np.multiply(weights, np.arange(w, dtype=np.float32), dtype=np.float32)
        np.cumsum(column, axis=1, out=sums[:, 1:])
        del column
        moment_x = (sums[self.row, self.end] - sums[self.row, self.start]).astype(np.float64)
        n = self.piece.max() + 1 if self.piece.size else 0
        per = lambda v: np.bincount(self.piece, weights=v, minlength=n)   # noqa: E731
        self.mass = per(mass)
        self.cy = per(mass * self.row) / self.mass
        self.cx = per(moment_x) / self.mass
        self.top = self._extreme(np.minimum, self.row, h, n)
        self.bottom = self._extreme(np.maximum, self.row, -1, n) + 1
        self.left = self._extreme(np.minimum, self.start, w, n)
        self.right = self._extreme(np.maximum, self.end, -1, n)
        length = (self.end - self.start).astype(np.float64)
        self.contact = np.max([per(self.start == 0) / h, per(self.end == w) / h,
                               per(length * (self.row == 0)) / w,
                               per(length * (self.row == h - 1)) / w], axis=0)

    def _join(self):
        """Label each run with its piece: 0, 1, ... (union-find over runs)."""
        width = self.shape[1] + 2
        first = np.searchsorted(self.row * width + self.end,
                                (self.row - 1) * width + self.start, side="left")
        last = np.searchsorted(self.row * width + self.start,
                               (self.row - 1) * width + self.end, side="right")
        counts = np.clip(last - first, 0, None)
        below = np.repeat(np.arange(self.row.size), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        above = np.repeat(first, counts) + offsets
        parent = np.arange(self.row.size)
        while True:
            parent = _compress(parent)
            a, b = parent[above], parent[below]
            differ = a != b
            if not differ.any():
                break
            np.minimum.at(parent, np.maximum(a, b)[differ], np.minimum(a, b)[differ])
        return np.unique(parent, return_inverse=True)[1].reshape(-1)

    def _extreme(self, ufunc, values, initial, n):
        out = np.full(n, initial, dtype=np.int64)
        ufunc.at(out, self.piece, values)
        return out

    def digit(self):
        """The pieces that make the digit (a boolean per piece), or None
        when there is no ink.  Raises ImageError when the best piece runs
        along the image's edge: then there is nothing but the paper's edge."""
        if self.mass.size == 0:
            return None
        h, w = self.shape
        off_centre = np.hypot((self.cy - (h - 1) / 2) / h, (self.cx - (w - 1) / 2) / w)
        edge = self.contact > EDGE_CONTACT
        touches = (self.top == 0) | (self.left == 0) | (self.bottom == h) | (self.right == w)
        score = (self.mass / (1 + 4 * off_centre**2)
                 * np.where(edge, 0.01, np.where(touches, 0.7, 1.0)))
        main = int(np.argmax(score))
        if edge[main]:
            raise ImageError("no digit found: only the image's edge is dark")
        reach = NEAR * max(self.bottom[main] - self.top[main], self.right[main] - self.left[main])
        near = ((self.top < self.bottom[main] + reach) & (self.bottom > self.top[main] - reach)
                & (self.left < self.right[main] + reach) & (self.right > self.left[main] - reach))
        kept = near & ~edge & (self.mass >= COMPANION * self.mass[main])
        kept[main] = True
        return kept

    def paint(self, kept):
        """A boolean image of the kept pieces' pixels."""
        mask = np.zeros(self.shape, dtype=bool)
        runs = kept[self.piece]
        starts, ends, rows = self.start[runs], self.end[runs], self.row[runs]
        lengths = ends - starts
        cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
        mask[np.repeat(rows, lengths), cols] = True
        return mask

    def box(self, kept):
        """The kept pieces' bounding box: (row0, row1, col0, col1), end-exclusive."""
        return (int(self.top[kept].min()), int(self.bottom[kept].max()),
                int(self.left[kept].min()), int(self.right[kept].max()))


def _compress(parent):
    """Point every run straight at the root of its tree."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def _dilate(mask, r):
    """Grow a boolean mask by ``r`` pixels in every direction (a square)."""
    h, w = mask.shape
    padded = np.pad(mask, r)
    rows = np.zeros((h, w + 2 * r), dtype=bool)
    for k in range(2 * r + 1):
        rows |= padded[k:k + h]
    out = np.zeros((h, w), dtype=bool)
    for k in range(2 * r + 1):
        out |= rows[:, k:k + w]
    return out


def save_digit_png(x, path):
    """Save the input the network saw as a PNG: white ink on black, one
    28x28 tile per image, side by side if ``x`` holds several (``(784,)`` or
    ``(n, 784)``, values in [0, 1) as ``preprocess`` returns them).  Written
    atomically (:func:`nndl.outputs.atomic_writer`)."""
    from nndl.outputs import atomic_writer
    tiles = np.asarray(x, dtype=np.float64).reshape(-1, SIDE, SIDE)
    strip = np.concatenate(list(tiles), axis=1)
    pixels = np.clip(np.floor(strip * 256 + 0.5), 0, 255).astype(np.uint8)
    with atomic_writer(path, binary=True) as f:
        Image.fromarray(pixels).save(f, format="PNG")


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
