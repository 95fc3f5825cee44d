"""transforms
~~~~~~~~~~

Geometric distortions of batches of images, ``(N, H, W)`` arrays, the raw
material of "Artificially expanding the training data".

Every transform is *backward mapping*: for each output pixel we compute
where in the source image it comes from, and read the source there by
bilinear interpolation (:func:`bilinear_sample`).  Outside the image the
source is black (0): nothing wraps around from the other edge.

Coordinates are ``(row, col)`` with rows going down the screen.  Affine
transforms act about the image centre; a positive rotation turns the digit
counter-clockwise as seen on the screen.

The elastic distortion is Simard, Steinkraus and Platt's (2003): a random
displacement field, uniform in [-1, 1] at every pixel, smoothed by a
Gaussian of width ``sigma`` and scaled by ``alpha``.  The smoothing is done
for the whole batch at once as two matrix products, ``G @ U @ G.T``, where
``G`` is the 1-D Gaussian filter written as an ``H x H`` matrix with zero
padding -- exactly ``scipy.ndimage.gaussian_filter(U, sigma, mode="constant")``
but one stacked matrix product for thousands of fields (:func:`elastic`).

:func:`elastic_lowrank` makes fields of the same distribution from far fewer
random numbers.  With the singular value decomposition ``G = P S Q^T``, the
smoothed field is ``P S (Q^T U Q) S P^T``; the rotated noise ``Q^T U Q`` has
independent entries of U's variance 1/3 (and, a sum of 784 uniforms each,
is Gaussian to a very good approximation), and ``S`` falls so fast that for
sigma = 4 only its first 9 values of 28 matter.  So a field is ``A C A^T``
with ``A`` the first 9 columns of ``P S`` and ``C`` a 9 x 9 matrix of
normal numbers of variance 1/3, of which only the 60 entries that carry
variance are drawn (:func:`lowrank_plan`): 60 random numbers instead of
784, and two thin matrix products instead of two 28x28 ones.  All but
:data:`LOWRANK_TOLERANCE` of the field's variance is kept.
"""

import numpy as np

# --------------------------------------------------------------- sampling


def bilinear_sample(images, rows, cols):
    """Return ``images`` read at the real-valued positions ``(rows, cols)``.

    ``images`` is ``(N, H, W)``; ``rows`` and ``cols`` are ``(N, H, W)`` (or
    broadcastable): output pixel ``[n, i, j]`` is image ``n`` at
    ``(rows[n, i, j], cols[n, i, j])``, interpolated bilinearly between the
    four nearest pixels, with black (0) outside the image.  This is
    ``scipy.ndimage.map_coordinates(order=1, mode="grid-constant")`` for a
    whole batch, vectorised with a single flat gather per corner: the images
    get a one-pixel black border and positions are clipped into it, so no
    read can leave the array and none wraps round to the other edge.
    """
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    padded = np.zeros((n, h + 2, w + 2), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = images
    r = np.clip(np.asarray(rows, dtype=np.float32) + 1, 0, h + 1)
    c = np.clip(np.asarray(cols, dtype=np.float32) + 1, 0, w + 1)
    r0 = np.minimum(r.astype(np.int32), h)          # r >= 0, so astype floors
    c0 = np.minimum(c.astype(np.int32), w)
    fr = r - r0
    fc = c - c0
    stride = w + 2
    base = np.arange(n, dtype=np.int32).reshape(n, 1, 1) * ((h + 2) * stride)
    flat = padded.reshape(-1)
    index = base + r0 * stride + c0
    top = flat.take(index)
    top += fc * (flat.take(index + 1) - top)
    index += stride
    bottom = flat.take(index)
    bottom += fc * (flat.take(index + 1) - bottom)
    top += fr * (bottom - top)
    return top


def pixel_grid(h, w):
    """Return the ``(rows, cols)`` of every pixel of an ``h x w`` image,
    each ``(1, h, w)`` float32."""
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32),
                             np.arange(w, dtype=np.float32), indexing="ij")
    return rows[None], cols[None]


# ----------------------------------------------------------------- affine


def affine(images, matrices, shifts=None):
    """Apply one affine map per image: ``out(p) = image(M^-1 (p - c - t) + c)``.

    ``matrices`` is ``(N, 2, 2)``, acting on ``(row, col)`` offsets from the
    centre ``c``; ``shifts`` is ``(N, 2)``, the ``(down, right)`` move in
    pixels applied after it.  So a bright pixel at ``q`` ends up at
    ``M (q - c) + c + t``.
    """
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    m = np.broadcast_to(np.asarray(matrices, dtype=np.float64), (n, 2, 2))
    t = np.zeros((n, 2)) if shifts is None else np.broadcast_to(np.asarray(shifts, np.float64), (n, 2))
    inv = np.linalg.inv(m).astype(np.float32)
    rows, cols = pixel_grid(h, w)
    cr, cc = (h - 1) / 2, (w - 1) / 2
    dr = rows - cr - t[:, 0, None, None].astype(np.float32)
    dc = cols - cc - t[:, 1, None, None].astype(np.float32)
    src_r = inv[:, 0, 0, None, None] * dr + inv[:, 0, 1, None, None] * dc + cr
    src_c = inv[:, 1, 0, None, None] * dr + inv[:, 1, 1, None, None] * dc + cc
    return bilinear_sample(images, src_r, src_c)


def rotation_matrices(degrees):
    """Return ``(N, 2, 2)`` matrices turning images counter-clockwise by
    ``degrees`` (one angle per image), in ``(row, col)`` coordinates."""
    a = np.radians(np.atleast_1d(np.asarray(degrees, dtype=np.float64)))
    cos, sin = np.cos(a), np.sin(a)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def shear_matrices(degrees):
    """Return ``(N, 2, 2)`` horizontal skews: each row slides sideways in
    proportion to its height, leaning verticals by ``degrees``."""
    k = np.tan(np.radians(np.atleast_1d(np.asarray(degrees, dtype=np.float64))))
    one, zero = np.ones_like(k), np.zeros_like(k)
    return np.stack([np.stack([one, zero], -1), np.stack([-k, one], -1)], -2)


def scale_matrices(factors):
    """Return ``(N, 2, 2)`` matrices scaling images about their centre."""
    s = np.atleast_1d(np.asarray(factors, dtype=np.float64))
    zero = np.zeros_like(s)
    return np.stack([np.stack([s, zero], -1), np.stack([zero, s], -1)], -2)


def rotate(images, degrees):
    """Turn each image counter-clockwise by ``degrees`` (a number or one per image)."""
    return affine(images, rotation_matrices(degrees))


def translate(images, down, right):
    """Move each image ``down`` and ``right`` pixels (numbers or one per image;
    fractions interpolate).  The uncovered edge is black."""
    n = len(images)
    shifts = np.stack(np.broadcast_arrays(np.asarray(down, np.float64).reshape(-1),
                                          np.asarray(right, np.float64).reshape(-1)), -1)
    return affine(images, np.eye(2), np.broadcast_to(shifts, (n, 2)))


def shear(images, degrees):
    """Skew each image by ``degrees`` (see :func:`shear_matrices`)."""
    return affine(images, shear_matrices(degrees))


def scale(images, factors):
    """Enlarge (factor > 1) or shrink (factor < 1) each image about its centre."""
    return affine(images, scale_matrices(factors))


def random_affine(images, rng, rotate=0.0, shift=0.0, skew=0.0, scale=0.0):
    """Distort each image by its own random affine map.

    Per image, uniformly at random: an angle in [-rotate, rotate] degrees, a
    skew in [-skew, skew] degrees, a scale factor in [1 - scale, 1 + scale],
    and a move of up to ``shift`` pixels down and right (each in
    [-shift, shift]).  The map is rotation @ skew @ scale, then the move.
    """
    return affine(images, *random_affine_maps(rng, len(images), rotate, shift, skew, scale))


def random_affine_maps(rng, n, rotate=0.0, shift=0.0, skew=0.0, scale=0.0):
    """Return ``n`` random ``(matrices (n, 2, 2), shifts (n, 2))`` as
    :func:`random_affine` draws them."""
    m = (rotation_matrices(rng.uniform(-rotate, rotate, n))
         @ shear_matrices(rng.uniform(-skew, skew, n))
         @ scale_matrices(rng.uniform(1 - scale, 1 + scale, n)))
    return m, rng.uniform(-shift, shift, (n, 2))


# ------------------------------------------------------- the book's shifts


def shift_pixels(images, down, right):
    """Move every image by whole pixels, filling the uncovered edge with black.

    This is exact copying (no interpolation): with ``down, right`` of
    ``(1, 0), (-1, 0), (0, 1), (0, -1)`` it gives the four images that the
    book's ``expand_mnist.py`` makes of each training image.
    """
    images = np.asarray(images)
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    if abs(down) >= h or abs(right) >= w:
        return out
    src_r, dst_r = _overlap(h, down)
    src_c, dst_c = _overlap(w, right)
    out[:, dst_r, dst_c] = images[:, src_r, src_c]
    return out


def _overlap(size, move):
    """Return the (source, destination) slices of an axis moved by ``move``."""
    if move >= 0:
        return slice(0, size - move), slice(move, size)
    return slice(-move, size), slice(0, size + move)


BOOK_SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))   # expand_mnist.py's order


# ---------------------------------------------------------------- elastic


def gaussian_matrix(size, sigma, truncate=4.0):
    """Return the ``size x size`` matrix ``G`` with ``G @ v`` = ``v`` smoothed
    by a Gaussian of standard deviation ``sigma`` (pixels), zeros beyond
    the ends.

    The kernel is scipy.ndimage's: radius ``int(truncate * sigma + 0.5)``,
    normalised to sum 1 before the ends cut it, so ``G @ U @ G.T`` equals
    ``gaussian_filter(U, sigma, mode="constant", truncate=truncate)``.
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    offsets = np.arange(size)[None, :] - np.arange(size)[:, None]
    inside = np.abs(offsets) <= radius
    return np.where(inside, kernel[np.clip(offsets + radius, 0, 2 * radius)], 0.0)


def smooth_fields(fields, sigma):
    """Smooth each ``(H, W)`` field of ``fields`` (shape ``(..., H, W)``) with a
    Gaussian of width ``sigma``: ``G_H @ F @ G_W.T`` for every field.

    The filter is separable, so it is two small matrix products per field.
    They are done as one stacked ``matmul`` over the batch: NumPy runs each
    28x28 product on the calling thread, which on a busy 2-core machine is
    over ten times faster than one large multithreaded BLAS call competing
    with the training thread for the cores.
    """
    fields = np.asarray(fields, dtype=np.float32)
    h, w = fields.shape[-2:]
    gw = gaussian_matrix(w, sigma).astype(np.float32)
    gh = gw if h == w else gaussian_matrix(h, sigma).astype(np.float32)
    return gh @ fields @ gw.T


def uniform_fields(rng, n, h, w):
    """Return ``n`` raw displacement fields, ``(n, 2, h, w)`` float32, each value
    uniform in [-1, 1): index 1 is (down, right)."""
    u = rng.random((n, 2, h, w), dtype=np.float32)
    u *= 2
    u -= 1
    return u


def elastic_from_fields(images, fields, alpha, sigma):
    """Distort ``images`` by the raw ``fields`` (see :func:`uniform_fields`):
    each output pixel reads the source ``alpha * smoothed field`` away."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    d = smooth_fields(fields, sigma)
    d *= np.float32(alpha)
    rows, cols = pixel_grid(h, w)
    return bilinear_sample(images, rows + d[:, 0], cols + d[:, 1])


def elastic(images, rng, alpha=34.0, sigma=4.0):
    """Simard et al.'s elastic distortion with fresh random fields from ``rng``.

    ``sigma`` (pixels) sets how smooth the displacement is -- small values
    give noise, large ones a near-uniform shift -- and ``alpha`` its size;
    the paper uses alpha = 34, sigma = 4 for MNIST.  ``alpha = 0`` returns
    the images unchanged.
    """
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    return elastic_from_fields(images, uniform_fields(rng, n, h, w), alpha, sigma)


# ------------------------------------------------------ low-rank elastic

LOWRANK_TOLERANCE = 1e-5     # share of the field's variance the low-rank basis may drop


def lowrank_basis(size, sigma):
    """Return ``P S``, ``(size, size)``: the SVD ``G = P S Q^T`` of
    :func:`gaussian_matrix`, columns by falling singular value."""
    p, s, _ = np.linalg.svd(gaussian_matrix(size, sigma))
    return p * s


def lowrank_plan(h, w, sigma, tolerance=LOWRANK_TOLERANCE):
    """Return ``(A, B, counts)`` for fields on an ``h x w`` image: the bases
    ``A`` (h, ka) and ``B`` (w, kb), and for each row ``p`` of the
    coefficient matrix how many of its first entries are drawn (the others
    are 0).

    The pair ``(p, q)`` contributes ``s_p^2 t_q^2 / 3`` to the field's total
    variance (``s``, ``t`` the singular values along each axis); the pairs
    are kept from the largest down until all but ``tolerance`` of the total
    is kept.  The singular values fall, so the kept pairs form a staircase:
    row ``p`` keeps ``q < counts[p]``.  For sigma 4 on 28x28 that is 60
    pairs, ``counts = [9, 9, 8, 8, 7, 7, 6, 4, 2]``.
    """
    a = lowrank_basis(h, sigma)
    b = a if h == w else lowrank_basis(w, sigma)
    share = np.outer((a ** 2).sum(axis=0), (b ** 2).sum(axis=0))
    ranked = np.sort(share.ravel())[::-1]
    kept = np.searchsorted(np.cumsum(ranked) / ranked.sum(), 1 - tolerance) + 1
    counts = (share >= ranked[min(kept, ranked.size) - 1]).sum(axis=1)
    ka = int(np.count_nonzero(counts))
    return a[:, :ka], b[:, :int(counts.max())], counts[:ka].astype(np.int64)


def lowrank_coefficients(rng, n, counts):
    """Return ``n`` images' random coefficients, ``(n, 2, sum(counts))``
    float32, standard normal (the 1/3 variance of U is in
    :func:`lowrank_fields`): the kept entries of each field's coefficient
    matrix, row by row."""
    return rng.standard_normal((n, 2, int(np.sum(counts))), dtype=np.float32)


def unpack_coefficients(coeffs, counts, kb):
    """The ``(n, 2, len(counts), kb)`` coefficient matrices, zeros where no
    coefficient is drawn."""
    keep = np.arange(kb)[None, :] < np.asarray(counts)[:, None]
    full = np.zeros(coeffs.shape[:2] + keep.shape, np.float32)
    full[:, :, keep] = coeffs
    return full


def lowrank_fields(coeffs, a, b, counts, alpha):
    """Return the displacement fields ``alpha A C B^T / sqrt(3)``,
    ``(n, 2, H, W)`` float32, for the coefficients of
    :func:`lowrank_coefficients` and the plan ``a``, ``b``, ``counts`` of
    :func:`lowrank_plan`."""
    scale = np.float32(alpha / np.sqrt(3.0))
    c = unpack_coefficients(coeffs, counts, b.shape[1])
    return (a * scale).astype(np.float32) @ c @ b.T.astype(np.float32)


def elastic_lowrank(images, rng, alpha=34.0, sigma=4.0):
    """Simard et al.'s elastic distortion with fields made in the low-rank
    basis (see the module docstring): the same distribution of fields as
    :func:`elastic`, from ``2 sum(counts)`` normal numbers per image."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    a, b, counts = lowrank_plan(h, w, sigma)
    d = lowrank_fields(lowrank_coefficients(rng, n, counts), a, b, counts, alpha)
    rows, cols = pixel_grid(h, w)
    return bilinear_sample(images, rows + d[:, 0], cols + d[:, 1])
