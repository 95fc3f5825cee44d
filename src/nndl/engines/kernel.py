"""A compiled SGD kernel for small mini-batches (Numba).

With mini-batches of 10 and a hidden layer of 30, each matrix product is so
small that NumPy spends most of an epoch in Python and call overhead, not in
arithmetic.  This kernel runs whole epochs of mini-batch SGD in one compiled
call, and saves arithmetic three ways:

* **Sparse inputs.**  80% of MNIST's pixels are exactly 0.  The first layer
  visits only each input's non-zero pixels (marked once per run by
  ``nonzero_masks``, one bit per pixel), so the forward
  pass and the weight update touch only the rows of W^T that belong to them.
* **A layout per layer.**  The first layer keeps W^T, shape (n_in, n_out),
  so that one pixel's contribution z += x_i W^T[i] and its update
  W^T[i] -= c x_i delta are contiguous vectors the compiler turns into SIMD
  instructions.  Later layers keep W, shape (n_out, n_in): their forward
  pass is a dot product per unit and their BP2 and update are row
  operations, all over the (padded) hidden width rather than over the 10
  output units, which fill no SIMD vector.
* **Lazy weight decay.**  L2 shrinks every weight by (1 - eta lmbda / n) each
  step (equation (93)).  The kernel keeps the weights as s * V instead, with
  one scalar s for the network: decay multiplies s, the gradient step
  divides by the new s, and V is rescaled only when s has shrunk below 1e-4
  and at the end of each call.  Decay then costs nothing per weight.

* **Prefetching.**  Mini-batches take the images in random order, so each
  image's pixels would start as cache misses; while one mini-batch trains,
  the next one's pixels and non-zero lists are requested from memory.

The arithmetic is the reference's -- equations (BP1)-(BP4) and (93) or
(97) -- summed in a different order, so results agree to rounding error; the
tests check that against ``Network.backprop`` on the same seed.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

# Activation, cost and regulariser codes shared with numba_engine.py.
SIGMOID, TANH, RELU, LINEAR, SOFTMAX = 0, 1, 2, 3, 4
COST_A_MINUS_Y, COST_QUADRATIC = 0, 1
REG_NONE, REG_L2, REG_L1 = 0, 1, 2
RENORMALIZE_BELOW = 1e-4
# Let the compiler reorder sums and fuse multiply-adds (what makes the inner
# loops SIMD), but keep IEEE infinities and NaNs: a diverging run must still
# show up as inf/nan, exactly as in the reference.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


def nonzero_masks(x):
    """Return masks, uint64 of shape (n, ceil(d / 64)): bit b of masks[r, k]
    is set exactly when x[r, 64 k + b] is non-zero.  The kernel visits each
    image's non-zero pixels by walking these bits; the values are read from
    x itself, so the data are not held twice.  A bit per pixel (98 bytes an
    MNIST image) is a third of the memory of a 16-bit index per non-zero
    pixel, and walking the bits is as fast as reading such a list."""
    masks = np.zeros((x.shape[0], -(-x.shape[1] // 64)), dtype=np.uint64)
    _set_nonzero_bits(x, masks)
    return masks


@njit(cache=True)
def _set_nonzero_bits(x, masks):
    """Set the bit of masks that belongs to every non-zero of x."""
    n, d = x.shape
    for r in range(n):
        for i in range(d):
            if x[r, i] != 0:
                masks[r, i >> 6] |= np.uint64(1) << np.uint64(i & 63)


@njit(cache=True)
def _next_pixel(word, k):
    """Return (i, rest): the column of the lowest set bit of word, the k-th
    word of a mask, and word without that bit."""
    return k * 64 + np.int64(trailing_zeros(word)), word & (word - np.uint64(1))


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the CPU to start loading the cache line of ``array[index]`` (a 1-D
    array) without waiting for it: LLVM's prefetch hint.  It changes no
    value and cannot fault, so the index is not checked."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        ptr = builder.bitcast(ptr, cgutils.voidptr_t)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])    # read, keep in all caches, data
        return context.get_dummy_value()
    return types.void(array, types.intp), codegen


LINE = 64    # bytes per cache line


@njit(cache=True)
def _prefetch_examples(rows, masks, x, y):
    """Start loading what the examples ``rows`` will read: their masks of
    non-zero pixels, their pixels and their targets.  The mini-batches visit
    the images in random order, so without this every image starts with
    cache misses (a third of the epoch with [784,30,10])."""
    for r in rows:
        for k in range(0, masks.shape[1], LINE // masks.itemsize):
            _prefetch(masks[r], k)
        pixels = x[r]
        for i in range(0, pixels.size, LINE // x.itemsize):
            _prefetch(pixels, i)
        _prefetch(y[r], 0)


@njit(cache=True, fastmath=FAST)
def _activate(z, kind):
    """Replace the weighted inputs z by the layer's outputs, in place."""
    t = z.dtype.type
    if kind == SIGMOID:
        # 1 / (1 + e^-z): a third of the time of the reference's tanh form
        # and equal to it within rounding.  It saturates exactly too: for
        # z = -1000, e^-z is inf and the result 0 (the reference prefers
        # tanh only because NumPy warns about that overflow).
        for j in range(z.size):
            z[j] = t(1) / (t(1) + np.exp(-z[j]))
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
def _finish_layer(z, b, s, kind, width):
    """Turn z = V a into the layer's output: z s + b, activated over the
    ``width`` real units; padding units are set to exactly 0."""
    for j in range(width):
        z[j] = z[j] * s + b[j]
    _activate(z[:width], kind)
    z[width:] = 0


@njit(cache=True, fastmath=FAST)
def _forward(r, e, masks, x, wts, bs, acts, kinds, widths, s):
    """Forward pass of training example r into row e of the buffers, with
    weights s * V.  The first layer (W^T) visits only the image's non-zero
    pixels; the others (W) take one dot product per real unit."""
    z = acts[0][e]
    z[:] = 0
    w0 = wts[0]
    for k in range(masks.shape[1]):
        word = masks[r, k]
        while word:
            i, word = _next_pixel(word, k)
            v, row = x[r, i], w0[i]
            for j in range(z.size):
                z[j] += v * row[j]
    _finish_layer(z, bs[0], s, kinds[0], widths[0])
    for l in range(1, len(wts)):
        a_prev, z, w = acts[l - 1][e], acts[l][e], wts[l]
        for k in range(widths[l]):
            row = w[k]
            acc = z[0] * 0
            for i in range(a_prev.size):
                acc += row[i] * a_prev[i]
            z[k] = acc
        _finish_layer(z, bs[l], s, kinds[l], widths[l])


@njit(cache=True, fastmath=FAST)
def _backward(r, e, y, wts, acts, deltas, kinds, widths, cost, s):
    """The deltas of example r (row e of the buffers) for every layer:
    (BP1) at the output, then (BP2) back through each W as sums of its rows.
    Padding units get delta exactly 0 (their weights are 0)."""
    n_layers = len(wts)
    out, d = acts[n_layers - 1][e], deltas[n_layers - 1][e]
    for j in range(widths[n_layers - 1]):                          # BP1
        d[j] = out[j] - y[r, j]
        if cost == COST_QUADRATIC:
            d[j] *= _derivative(out[j], kinds[n_layers - 1])
    for l in range(n_layers - 1, 0, -1):                           # BP2
        w, d = wts[l], deltas[l][e]
        a_prev, d_prev = acts[l - 1][e], deltas[l - 1][e]
        d_prev[:] = 0
        for k in range(widths[l]):
            c = d[k]
            row = w[k]
            for i in range(d_prev.size):
                d_prev[i] += c * row[i]
        for i in range(d_prev.size):
            d_prev[i] *= s * _derivative(a_prev[i], kinds[l - 1])


@njit(cache=True, fastmath=FAST)
def _update(rows, count, masks, x, wts, bs, acts, deltas, widths,
            step, reg, reg_step, s):
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
        for k in range(masks.shape[1]):
            word = masks[r, k]
            while word:
                i, word = _next_pixel(word, k)
                v, row = cw * x[r, i], w0[i]
                for j in range(d.size):
                    row[j] -= v * d[j]
    for l in range(1, n_layers):                                 # BP4, dense
        w = wts[l]
        for k in range(widths[l]):
            row = w[k]
            for e in range(count):
                c = cw * deltas[l][e, k]
                if c != 0:
                    a_prev = acts[l - 1][e]
                    for i in range(a_prev.size):
                        row[i] -= c * a_prev[i]
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
def sgd_batches(masks, x, y, order, start, stop, m,
                wts, bs, kinds, widths, cost, eta, reg, reg_step):
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
    acts = [np.zeros((m, b.size), dtype=b.dtype) for b in bs]   # outputs a
    deltas = [np.zeros((m, b.size), dtype=b.dtype) for b in bs]
    s = 1.0
    out = bs[len(bs) - 1]
    for k in range(start, stop, m):
        count = min(m, stop - k)
        rows = order[k:k + count]
        _prefetch_examples(order[k + m:k + 2 * m], masks, x, y)
        ts = wts[0].dtype.type(s)
        for e in range(count):
            _forward(rows[e], e, masks, x, wts, bs, acts, kinds, widths, ts)
            _backward(rows[e], e, y, wts, acts, deltas, kinds, widths, cost, ts)
        s = _update(rows, count, masks, x, wts, bs, acts, deltas, widths,
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
