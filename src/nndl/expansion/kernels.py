"""kernels
~~~~~~~

The distortions of :mod:`~nndl.expansion.transforms`, compiled (Numba).

Each kernel distorts a block of images one image at a time in a few small
scratch arrays: it reads the source rows straight from the training matrix
(by index, in its dtype) and writes the distorted rows straight into the
destination (in its dtype).  The kernels release the GIL (``nogil=True``),
so Python threads can distort blocks at the same time while another thread
trains, and they are cached on disk (``cache=True``), so only the first run
after an install compiles them.

* :func:`elastic_into` -- the displacement fields ``a @ C @ bt`` of each
  image (``C`` its random coefficients), then bilinear sampling.  With
  ``a``, ``bt`` the Gaussian filter matrices and ``C`` the raw uniform fields
  this is ``transforms.elastic_from_fields`` exactly; with the low-rank basis
  of ``transforms.lowrank_basis`` and ``C`` a few Gaussian coefficients it is
  the fast elastic distortion.
* :func:`affine_into` -- one inverse affine map per image, then bilinear
  sampling: ``transforms.affine``'s arithmetic.

The sampler is ``transforms.bilinear_sample``'s arithmetic: the image with a
one-pixel black border, positions clipped into it.  Two layout choices make
the field product run in SIMD: both fields of an image sit side by side in
one row of ``wp`` floats (a multiple of 64, so the compiler's vector loop,
64 floats an iteration, is taken for 28-pixel rows), and no array view is
made inside a loop (each view costs two atomic reference counts).
"""

import functools

import numpy as np
from numba import njit

from . import transforms as T

# Reorder and fuse multiply-adds (SIMD), keep IEEE infinities and NaNs.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
ONE = np.float32(1.0)
ZERO = np.float32(0.0)
VECTOR = 64           # floats per iteration of the compiler's vector loop


def padded_width(w):
    """The row length holding two fields of width ``w`` side by side."""
    return -(-2 * w // VECTOR) * VECTOR


def split_basis(bt):
    """Return ``(b0, b1)``, each ``(kb, padded_width(w))`` float32: ``bt``
    (kb, w) in columns ``[0, w)`` of ``b0`` and ``[w, 2w)`` of ``b1``, zeros
    elsewhere, so that one pass of ``c0 * b0 + c1 * b1`` builds both fields'
    rows."""
    kb, w = bt.shape
    b0 = np.zeros((kb, padded_width(w)), np.float32)
    b1 = np.zeros_like(b0)
    b0[:, :w] = bt
    b1[:, w:2 * w] = bt
    return b0, b1


@njit(nogil=True, cache=True, fastmath=FAST)
def _load_padded(src, row, pad, h, w):
    """Copy the flat image ``src[row]`` into the interior of the flat
    ((h + 2) * (w + 2)) float32 ``pad``."""
    stride = w + 2
    for i in range(h):
        for j in range(w):
            pad[(i + 1) * stride + j + 1] = np.float32(src[row, i * w + j])


@njit(nogil=True, cache=True)
def _lanes(h, w, wp):
    """Per-lane constants of a row of ``wp`` positions, lanes ``[0, w)`` rows
    and ``[w, 2w)`` columns of the same ``w`` pixels (others unused):
    ``lim`` the clip limit in the padded image, ``cap`` the largest corner,
    ``mult`` the corner's stride in the flat padded image, ``col`` the
    pixel's column plus 1 (column lanes) and ``isrow`` 1 on row lanes."""
    lim = np.zeros(wp, np.float32)
    cap = np.zeros(wp, np.int32)
    mult = np.zeros(wp, np.int32)
    col = np.zeros(wp, np.float32)
    isrow = np.zeros(wp, np.float32)
    for j in range(w):
        lim[j], cap[j], mult[j], isrow[j] = h + 1, h, w + 2, 1
        lim[w + j], cap[w + j], mult[w + j], col[w + j] = w + 1, w, 1, j + 1
    return lim, cap, mult, col, isrow


@njit(nogil=True, cache=True, fastmath=FAST)
def _locate(pos, lim, cap, mult, corner, frac):
    """Turn a row of positions in the padded image (row lanes, column lanes)
    into the top-left corner's flat offset part and the fraction beyond it,
    clipped into the black border: ``bilinear_sample``'s ``r0``, ``fr`` and
    ``c0``, ``fc``.  One SIMD pass over the row."""
    for j in range(pos.shape[0]):
        v = min(max(pos[j], ZERO), lim[j])
        k = min(np.int32(v), cap[j])
        frac[j] = v - np.float32(k)
        corner[j] = k * mult[j]


@njit(nogil=True, cache=True, fastmath=FAST)
def _sample_row(pad, w, stride, corner, frac, out, m, base):
    """Bilinear reads of one output row from its located corners."""
    for j in range(w):
        k = corner[j] + corner[w + j]
        fr = frac[j]
        fc = frac[w + j]
        top = pad[k]
        top = top + fc * (pad[k + 1] - top)
        bottom = pad[k + stride]
        bottom = bottom + fc * (pad[k + stride + 1] - bottom)
        out[m, base + j] = top + fr * (bottom - top)


@njit(nogil=True, cache=True, fastmath=FAST)
def _coefficient_rows(coeffs, counts, m, b0, b1, t):
    """``t[p] = C0[p] @ b0 + C1[p] @ b1``: row p of ``C @ bt`` for both
    fields side by side, ``C``'s row p being the next ``counts[p]``
    coefficients of ``coeffs[m, f]`` (zeros after them)."""
    wp = t.shape[1]
    start = 0
    for p in range(counts.shape[0]):
        for j in range(wp):
            t[p, j] = ZERO
        kb = counts[p]
        q = 0
        while q + 1 < kb:                   # two basis rows a pass: half the stores
            c0, c1 = coeffs[m, 0, start + q], coeffs[m, 1, start + q]
            e0, e1 = coeffs[m, 0, start + q + 1], coeffs[m, 1, start + q + 1]
            for j in range(wp):
                t[p, j] += (c0 * b0[q, j] + c1 * b1[q, j]) + (e0 * b0[q + 1, j] + e1 * b1[q + 1, j])
            q += 2
        if q < kb:
            c0, c1 = coeffs[m, 0, start + q], coeffs[m, 1, start + q]
            for j in range(wp):
                t[p, j] += c0 * b0[q, j] + c1 * b1[q, j]
        start += kb


@njit(nogil=True, cache=True, fastmath=FAST)
def elastic_into(src, rows, coeffs, counts, a, b0, b1, out):
    """Elastic distortion of the images ``src[rows]`` into ``out``.

    ``src`` is (N, h*w) in any float dtype, ``rows`` (n,) int64, ``coeffs``
    (n, 2, sum(counts)) float32 and ``counts`` (ka,) int64 (the coefficient
    matrices ``C``, row p holding ``counts[p]`` leading entries), ``a``
    (h, ka) float32, ``b0``/``b1`` the halves of ``split_basis(bt)`` for
    ``bt`` (kb, w), ``out`` (n, h*w).  Image ``m``'s displacement down is
    ``a @ C[m, 0] @ bt``, right ``a @ C[m, 1] @ bt``; output pixel (i, j)
    reads the source at (i, j) plus its displacement.
    """
    h, ka = a.shape
    w = out.shape[1] // h
    wp = b0.shape[1]
    stride = w + 2
    lim, cap, mult, col, isrow = _lanes(h, w, wp)
    pad = np.zeros((h + 2) * stride, np.float32)
    t = np.empty((ka, wp), np.float32)
    pos = np.empty(wp, np.float32)
    corner = np.empty(wp, np.int32)
    frac = np.empty(wp, np.float32)
    for m in range(rows.shape[0]):
        _load_padded(src, rows[m], pad, h, w)
        _coefficient_rows(coeffs, counts, m, b0, b1, t)
        for i in range(h):
            here = np.float32(i + 1)
            for j in range(wp):                     # pixel + 1 (the border) ...
                pos[j] = col[j] + isrow[j] * here
            p = 0
            while p + 2 < ka:                       # ... + its displacement,
                a0, a1, a2 = a[i, p], a[i, p + 1], a[i, p + 2]   # three terms a pass
                for j in range(wp):
                    pos[j] += a0 * t[p, j] + a1 * t[p + 1, j] + a2 * t[p + 2, j]
                p += 3
            while p < ka:
                a0 = a[i, p]
                for j in range(wp):
                    pos[j] += a0 * t[p, j]
                p += 1
            _locate(pos, lim, cap, mult, corner, frac)
            _sample_row(pad, w, stride, corner, frac, out, m, i * w)


@njit(nogil=True, cache=True, fastmath=FAST)
def affine_into(src, rows, params, h, w, out):
    """Affine distortion of the images ``src[rows]`` into ``out``.

    ``params[m]`` is ``(i00, i01, i10, i11, down, right)`` float32: the
    inverse of image ``m``'s 2x2 matrix and its move.  Output pixel p reads
    the source at ``inverse @ (p - centre - move) + centre``
    (``transforms.affine``).
    """
    cr = np.float32((h - 1) / 2)
    cc = np.float32((w - 1) / 2)
    wp = -(-2 * w // VECTOR) * VECTOR
    stride = w + 2
    lim, cap, mult, col, isrow = _lanes(h, w, wp)
    pad = np.zeros((h + 2) * stride, np.float32)
    down = np.empty(wp, np.float32)        # its row-offset coefficient
    start = np.empty(wp, np.float32)       # centre + border + column term
    pos = np.empty(wp, np.float32)
    corner = np.empty(wp, np.int32)
    frac = np.empty(wp, np.float32)
    for m in range(rows.shape[0]):
        _load_padded(src, rows[m], pad, h, w)
        i00, i01, i10, i11 = params[m, 0], params[m, 1], params[m, 2], params[m, 3]
        td, tr = params[m, 4], params[m, 5]
        for j in range(wp):
            start[j] = ZERO
            down[j] = ZERO
        for j in range(w):
            dc = np.float32(j) - cc - tr
            down[j], start[j] = i00, i01 * dc + cr + ONE
            down[w + j], start[w + j] = i10, i11 * dc + cc + ONE
        for i in range(h):
            dr = np.float32(i) - cr - td
            for j in range(wp):
                pos[j] = down[j] * dr + start[j]
            _locate(pos, lim, cap, mult, corner, frac)
            _sample_row(pad, w, stride, corner, frac, out, m, i * w)


# ------------------------------------------------------ Python entry points

def _rows(rows, n):
    """``rows`` as int64 indices (all ``n`` rows when None)."""
    return np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)


def _check_out(out, n, d):
    if out.shape != (n, d) or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous ({n}, {d}) array, got {out.shape}")


@functools.lru_cache(maxsize=64)
def lowrank_bases(h, w, alpha, sigma):
    """The kernel's ``(counts, a, b0, b1)`` for the low-rank elastic
    distortion: ``transforms.lowrank_plan``'s counts, and
    ``transforms.lowrank_fields``'s ``alpha / sqrt(3) * A`` and ``B^T``."""
    a, b, counts = T.lowrank_plan(h, w, sigma)
    ak = (a * np.float32(alpha / np.sqrt(3.0))).astype(np.float32)
    return counts, ak, *split_basis(np.ascontiguousarray(b.T, dtype=np.float32))


@functools.lru_cache(maxsize=64)
def gaussian_bases(h, w, alpha, sigma):
    """The kernel's ``(counts, a, b0, b1)`` for the exact elastic distortion:
    every coefficient (the raw field) drawn, ``alpha G_H`` and ``G_W^T``
    (``transforms.smooth_fields``)."""
    gh = T.gaussian_matrix(h, sigma)
    gw = gh if h == w else T.gaussian_matrix(w, sigma)
    return (np.full(h, w, np.int64), (gh * alpha).astype(np.float32),
            *split_basis(np.ascontiguousarray(gw.T, dtype=np.float32)))


def elastic_lowrank(src, rows, out, coeffs, alpha, sigma, shape):
    """Write the low-rank elastic distortion of ``src[rows]`` (flat rows of
    ``shape``) into ``out`` from the coefficients of
    ``transforms.lowrank_coefficients`` (``lowrank_counts`` gives their
    layout)."""
    h, w = shape
    rows = _rows(rows, len(src))
    _check_out(out, len(rows), h * w)
    counts, a, b0, b1 = lowrank_bases(h, w, float(alpha), float(sigma))
    elastic_into(src, rows, coeffs, counts, a, b0, b1, out)
    return out


def lowrank_counts(shape, sigma):
    """The coefficients drawn per row of the coefficient matrix."""
    return lowrank_bases(shape[0], shape[1], 1.0, float(sigma))[0]


def elastic_from_fields(src, rows, out, fields, alpha, sigma, shape):
    """Write ``transforms.elastic_from_fields(src[rows], fields, alpha,
    sigma)`` into ``out``: the exact smoothing of the raw uniform fields
    ``fields`` (n, 2, H, W), compiled."""
    h, w = shape
    rows = _rows(rows, len(src))
    _check_out(out, len(rows), h * w)
    counts, a, b0, b1 = gaussian_bases(h, w, float(alpha), float(sigma))
    fields = np.ascontiguousarray(fields, dtype=np.float32).reshape(len(rows), 2, h * w)
    elastic_into(src, rows, fields, counts, a, b0, b1, out)
    return out


def affine_params(matrices, shifts):
    """The kernel's per-image ``(i00, i01, i10, i11, down, right)``, float32,
    computed as ``transforms.affine`` computes its inverse and move."""
    inv = np.linalg.inv(np.asarray(matrices, dtype=np.float64)).astype(np.float32)
    t = np.asarray(shifts, dtype=np.float64).astype(np.float32)
    return np.ascontiguousarray(np.concatenate([inv.reshape(-1, 4), t], axis=1))


def affine(src, rows, out, params, shape):
    """Write the affine distortion of ``src[rows]`` by ``params``
    (:func:`affine_params`) into ``out``."""
    h, w = shape
    rows = _rows(rows, len(src))
    _check_out(out, len(rows), h * w)
    affine_into(src, rows, params, h, w, out)
    return out
