"""A compiled SGD kernel for small mini-batches (Numba).

With mini-batches of 10 and a hidden layer of 30, each matrix product is so
small that NumPy spends most of an epoch in Python and call overhead, not in
arithmetic.  This kernel runs whole epochs of mini-batch SGD in one compiled
call, and saves arithmetic three ways:

* **Sparse inputs.**  80% of MNIST's pixels are exactly 0.  The first layer
  visits only each input's non-zero pixels (listed once per run by
  ``nonzero_rows``, as the index arrays of a CSR matrix), so the forward
  pass and the weight update touch only the rows of W^T that belong to them.
* **Transposed weights.**  Each layer keeps W^T, shape (n_in, n_out), so that
  one input's contribution z += a_i W^T[i] and its update W^T[i] -= c a_i
  delta are contiguous vectors the compiler turns into SIMD instructions.
* **Lazy weight decay.**  L2 shrinks every weight by (1 - eta lmbda / n) each
  step (equation (93)).  The kernel keeps the weights as s * V instead, with
  one scalar s for the network: decay multiplies s, the gradient step
  divides by the new s, and V is rescaled only when s has shrunk below 1e-4
  and at the end of each call.  Decay then costs nothing per weight.

The arithmetic is the reference's -- equations (BP1)-(BP4) and (93) or
(97) -- summed in a different order, so results agree to rounding error; the
tests check that against ``Network.backprop`` on the same seed.
"""

import numpy as np
from numba import njit

# Activation, cost and regulariser codes shared with engines.py.
SIGMOID, TANH, RELU, LINEAR, SOFTMAX = 0, 1, 2, 3, 4
COST_A_MINUS_Y, COST_QUADRATIC = 0, 1
REG_NONE, REG_L2, REG_L1 = 0, 1, 2
RENORMALIZE_BELOW = 1e-4
# Let the compiler reorder sums and fuse multiply-adds (what makes the inner
# loops SIMD), but keep IEEE infinities and NaNs: a diverging run must still
# show up as inf/nan, exactly as in the reference.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


def nonzero_rows(x):
    """Return (indptr, indices): row r of x is non-zero exactly at columns
    indices[indptr[r]:indptr[r+1]] (the index half of a CSR matrix; the
    values are read from x itself, so the data are not held twice).  The
    column indices are 16-bit when the rows are short enough (MNIST's 784
    pixels are), which halves their memory."""
    indptr = _count_nonzeros(x)
    indices = np.empty(indptr[-1], dtype=np.uint16 if x.shape[1] <= 65536 else np.int32)
    _list_nonzeros(x, indptr, indices)
    return indptr, indices


@njit(cache=True)
def _count_nonzeros(x):
    """Return indptr: indptr[r+1] - indptr[r] non-zeros in row r of x."""
    n, d = x.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        count = 0
        for i in range(d):
            if x[r, i] != 0:
                count += 1
        indptr[r + 1] = indptr[r] + count
    return indptr


@njit(cache=True)
def _list_nonzeros(x, indptr, indices):
    """Fill indices with the columns of each row's non-zeros, row by row."""
    n, d = x.shape
    for r in range(n):
        p = indptr[r]
        for i in range(d):
            if x[r, i] != 0:
                indices[p] = i
                p += 1


@njit(cache=True, fastmath=FAST)
def _activate(z, kind):
    """Replace the weighted inputs z by the layer's outputs, in place."""
    t = z.dtype.type
    if kind == SIGMOID:
        for j in range(z.size):
            z[j] = t(0.5) * np.tanh(t(0.5) * z[j]) + t(0.5)   # as Sigmoid.fn
    elif kind == TANH:
        for j in range(z.size):
            z[j] = np.tanh(z[j])
    elif kind == RELU:
        for j in range(z.size):
            z[j] = max(z[j], t(0))
    elif kind == SOFTMAX:
        top = z[0]
        for j in range(1, z.size):
            top = max(top, z[j])
        total = t(0)
        for j in range(z.size):
            z[j] = np.exp(z[j] - top)
            total += z[j]
        for j in range(z.size):
            z[j] /= total


@njit(cache=True, fastmath=FAST)
def _derivative(a, kind):
    """sigma'(z) in terms of the output a, as the activation classes define it."""
    t = type(a)
    if kind == SIGMOID:
        return a * (t(1) - a)
    if kind == TANH:
        return t(1) - a * a
    if kind == RELU:
        return t(1) if a > 0 else t(0)
    return t(1)


@njit(cache=True, fastmath=FAST)
def _forward_backward(r, e, indptr, indices, x, y, wts, bs, acts, deltas, kinds, widths,
                      cost, s):
    """Forward pass for training example r into row e of the buffers, then
    its deltas for every layer (BP1, BP2), with weights s * V.  Units beyond
    ``widths[l]`` are padding: their outputs are held at exactly 0."""
    n_layers = len(wts)
    z = acts[0][e]
    z[:] = 0
    w0 = wts[0]
    for p in range(indptr[r], indptr[r + 1]):
        v = x[r, indices[p]]
        row = w0[indices[p]]
        for j in range(z.size):
            z[j] += v * row[j]
    b = bs[0]
    for j in range(z.size):
        z[j] = z[j] * s + b[j]
    _activate(z, kinds[0])
    z[widths[0]:] = 0
    for l in range(1, n_layers):
        a_prev = acts[l - 1][e]
        z = acts[l][e]
        w = wts[l]
        z[:] = 0
        for i in range(a_prev.size):
            ai = a_prev[i]
            if ai != 0:
                row = w[i]
                for j in range(z.size):
                    z[j] += ai * row[j]
        b = bs[l]
        for j in range(z.size):
            z[j] = z[j] * s + b[j]
        _activate(z, kinds[l])
        z[widths[l]:] = 0
    out = acts[n_layers - 1][e]
    d = deltas[n_layers - 1][e]
    for j in range(out.size):                                   # BP1
        d[j] = out[j] - y[r, j]
        if cost == COST_QUADRATIC:
            d[j] *= _derivative(out[j], kinds[n_layers - 1])
    for l in range(n_layers - 1, 0, -1):                          # BP2
        w = wts[l]
        d = deltas[l][e]
        a_prev = acts[l - 1][e]
        d_prev = deltas[l - 1][e]
        for i in range(w.shape[0]):
            acc = d[0] * 0
            row = w[i]
            for j in range(d.size):
                acc += row[j] * d[j]
            d_prev[i] = acc * s * _derivative(a_prev[i], kinds[l - 1])


@njit(cache=True, fastmath=FAST)
def _update(rows, count, indptr, indices, x, wts, bs, acts, deltas, step, reg, reg_step, s):
    """Apply one mini-batch's step to V (the weights are s * V) and the biases.

    ``step`` is eta / m for the biases; the weights get step / s_new, where
    s_new = s * (1 - eta lmbda / n) under L2.  L1 first moves every weight by
    reg_step * sgn(w) at its old value (equation (97)).  Returns s_new.
    """
    t = wts[0].dtype.type
    n_layers = len(wts)
    if reg == REG_L1:
        for l in range(n_layers):
            w = wts[l].ravel()
            for i in range(w.size):
                if w[i] > 0:
                    w[i] -= t(reg_step)
                elif w[i] < 0:
                    w[i] += t(reg_step)
    s_new = s * (1.0 - reg_step) if reg == REG_L2 else s
    cw = t(step / s_new)
    cb = t(step)
    for l in range(n_layers):                                   # BP3
        b = bs[l]
        for e in range(count):
            d = deltas[l][e]
            for j in range(b.size):
                b[j] -= cb * d[j]
    w0 = wts[0]                                                  # BP4, sparse input
    for e in range(count):
        d = deltas[0][e]
        r = rows[e]
        for p in range(indptr[r], indptr[r + 1]):
            v = cw * x[r, indices[p]]
            row = w0[indices[p]]
            for j in range(d.size):
                row[j] -= v * d[j]
    for l in range(1, n_layers):                                 # BP4, dense
        w = wts[l]
        for e in range(count):
            d = deltas[l][e]
            a_prev = acts[l - 1][e]
            for i in range(a_prev.size):
                v = cw * a_prev[i]
                if v != 0:
                    row = w[i]
                    for j in range(d.size):
                        row[j] -= v * d[j]
    return s_new


@njit(cache=True, fastmath=FAST)
def _rescale(wts, s):
    """Multiply every V by s, so that the stored weights are the true ones."""
    t = wts[0].dtype.type
    for l in range(len(wts)):
        w = wts[l].ravel()
        for i in range(w.size):
            w[i] *= t(s)


@njit(cache=True, fastmath=FAST)
def sgd_batches(indptr, indices, x, y, order, start, stop, m,
                wts, bs, acts, deltas, kinds, widths, cost, eta, reg, reg_step):
    """Take SGD steps on the mini-batches order[start:start+m], ... up to
    position ``stop``, changing the transposed weights ``wts`` and the biases
    ``bs`` in place.

    ``kinds`` holds each layer's activation code, ``widths`` its real number
    of units (the buffers may be wider), ``cost`` says how the
    output delta is formed, ``reg_step`` is eta * lmbda / n.

    Returns -1, or the position in ``order`` of the mini-batch after which
    an output bias became NaN or infinite: the kernel stops there, since a
    NaN anywhere reaches the output biases within one step.
    """
    s = 1.0
    out = bs[len(bs) - 1]
    for k in range(start, stop, m):
        count = min(m, stop - k)
        rows = order[k:k + count]
        for e in range(count):
            _forward_backward(rows[e], e, indptr, indices, x, y, wts, bs, acts,
                              deltas, kinds, widths, cost, wts[0].dtype.type(s))
        s = _update(rows, count, indptr, indices, x, wts, bs, acts, deltas,
                    eta / count, reg, reg_step, s)
        if s < RENORMALIZE_BELOW:
            _rescale(wts, s)
            s = 1.0
        total = 0.0
        for j in range(widths[len(widths) - 1]):
            total += out[j]
        if not np.isfinite(total):
            if s != 1.0:
                _rescale(wts, s)
            return k
    if s != 1.0:
        _rescale(wts, s)
    return -1
