"""A compiled SGD kernel for small mini-batches (Numba).

With mini-batches of 10 and a hidden layer of 30, each matrix product is so
small that NumPy spends most of an epoch in Python and call overhead, not in
arithmetic.  This kernel runs whole epochs of mini-batch SGD in one compiled
call, and saves arithmetic three ways:

* **Sparse inputs.**  80% of MNIST's pixels are exactly 0.  The first layer
  visits only each input's non-zero pixels (marked once per run by
  ``nonzero_masks``, one bit per pixel; once per epoch for freshly
  distorted images, in the background), so the forward
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

Besides plain SGD it takes momentum and Nesterov steps (equations
(107)-(108); the velocities are kept in the weights' layout), Adam, RMSProp
and AdaGrad steps (the mean gradient plus the regulariser's term gathered
into buffers, then ``optimizers.Adam``'s, ``RMSProp``'s or ``AdaGrad``'s
arithmetic element by element; their moments in the weights' layout, and no
lazy decay: the L2 term enters the gradient as in the reference), dropout with
masks drawn by the engine exactly as ``Dropout.masks`` draws them (the
input's as bits ANDed with the non-zero bits, the hidden layers' as rows of
0 and 1/(1-p)), and max-norm after every step.  ``sgd_batches`` releases
the GIL, so Python threads (the expander's) run beside it.

The arithmetic is the reference's -- equations (BP1)-(BP4), (93) or (97)
and (107)-(108) -- summed in a different order, so results agree to rounding
error; the tests check that against ``training.sgd_step`` on the same seed.
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
OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM, OPT_RMSPROP, OPT_ADAGRAD = 0, 1, 2, 3, 4, 5
RENORMALIZE_BELOW = 1e-4
# Let the compiler reorder sums and fuse multiply-adds (what makes the inner
# loops SIMD), but keep IEEE infinities and NaNs: a diverging run must still
# show up as inf/nan, exactly as in the reference.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


def compiled(**options):
    """Numba's ``njit`` with ``cache=True``: the machine code is saved
    beside this file (or in Numba's user-wide cache directory, or
    ``NUMBA_CACHE_DIR``) and later processes load it instead of compiling.
    Where no cache directory is writable, Numba refuses ``cache=True``;
    the function is then compiled in every process, silently."""
    def decorate(fn):
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError:          # "cannot cache function ...: no locator available"
            return njit(**options)(fn)
    return decorate


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


@compiled(nogil=True)
def _set_nonzero_bits(x, masks):
    """Set the bit of masks that belongs to every non-zero of x.  Each row
    is first compared into bytes, 0 or 1, and each word then gathered from
    64 of them: both loops run in SIMD, without a branch per pixel (three
    times the speed of testing pixel by pixel).  No GIL: an engine computes
    the masks of the next expanded epoch in the background."""
    n, d = x.shape
    words = masks.shape[1]
    nonzero = np.zeros(words * 64, dtype=np.uint8)
    for r in range(n):
        row = x[r]
        for i in range(d):
            nonzero[i] = row[i] != 0
        for k in range(words):
            word = np.uint64(0)
            for b in range(64):
                word |= np.uint64(nonzero[k * 64 + b]) << np.uint64(b)
            masks[r, k] |= word


@compiled()
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


@compiled()
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


@compiled(fastmath=FAST)
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


@compiled(fastmath=FAST)
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


@compiled(fastmath=FAST)
def _finish_layer(z, b, s, kind, width):
    """Turn z = V a into the layer's output: z s + b, activated over the
    ``width`` real units; padding units are set to exactly 0."""
    for j in range(width):
        z[j] = z[j] * s + b[j]
    _activate(z[:width], kind)
    z[width:] = 0


@compiled(fastmath=FAST)
def _mask_row(k, start, m, e, per_example):
    """The row of the dropout masks that example e of the mini-batch at
    position k of ``order`` uses: its own row, or its mini-batch's."""
    return k - start + e if per_example else (k - start) // m


@compiled()
def _input_word(r, k, mrow, masks, keep0):
    """Word k of the bits of the pixels of example r that the first layer
    sees: the non-zero ones, and under input dropout only the kept ones."""
    word = masks[r, k]
    if keep0.shape[0]:
        word &= keep0[mrow, k]
    return word


@compiled()
def _input(x, r, i, keep0, scale0):
    """Pixel i of example r as the first layer sees it: x, or under input
    dropout the kept pixel scaled by 1/(1-p)."""
    return x[r, i] * scale0 if keep0.shape[0] else x[r, i]


@compiled(fastmath=FAST)
def _thin(a, dfac, keep, mrow, kind):
    """Under dropout, for a hidden layer's outputs a: store sigma'(z) times
    the mask row (0 for a dropped unit, 1/(1-p) for a kept one) in dfac, for
    BP2, and multiply a by the mask, so the next layer, BP2 and BP4 all see
    the thinned network, as ``Network.backprop`` with masks does."""
    kr = keep[mrow]
    for j in range(a.size):
        dfac[j] = _derivative(a[j], kind) * kr[j]
        a[j] *= kr[j]


@compiled(fastmath=FAST)
def _forward(r, e, mrow, masks, keep0, scale0, x, wts, bs, acts, dfacs, keeps, kinds,
             widths, s):
    """Forward pass of training example r into row e of the buffers, with
    weights s * V.  The first layer (W^T) visits only the image's non-zero
    (and not dropped) pixels; the others (W) take one dot product per real
    unit of the previous layer's (thinned) outputs."""
    z = acts[0][e]
    z[:] = 0
    w0 = wts[0]
    for k in range(masks.shape[1]):
        word = _input_word(r, k, mrow, masks, keep0)
        while word:
            i, word = _next_pixel(word, k)
            v, row = _input(x, r, i, keep0, scale0), w0[i]
            for j in range(z.size):
                z[j] += v * row[j]
    _finish_layer(z, bs[0], s, kinds[0], widths[0])
    for l in range(1, len(wts)):
        a_prev, z, w = acts[l - 1][e], acts[l][e], wts[l]
        if keeps[l].shape[0]:
            _thin(a_prev, dfacs[l - 1][e], keeps[l], mrow, kinds[l - 1])
        for k in range(widths[l]):
            row = w[k]
            acc = z[0] * 0
            for i in range(a_prev.size):
                acc += row[i] * a_prev[i]
            z[k] = acc
        _finish_layer(z, bs[l], s, kinds[l], widths[l])


@compiled(fastmath=FAST)
def _backward(r, e, y, wts, acts, dfacs, keeps, deltas, kinds, widths, cost, s):
    """The deltas of example r (row e of the buffers) for every layer:
    (BP1) at the output, then (BP2) back through each W as sums of its rows,
    times sigma'(z) (under dropout: times the mask, from ``_thin``).
    Padding units get delta exactly 0 (their weights are 0)."""
    n_layers = len(wts)
    out, d = acts[n_layers - 1][e], deltas[n_layers - 1][e]
    for j in range(widths[n_layers - 1]):                          # BP1
        d[j] = out[j] - y[r, j]
        if cost == COST_QUADRATIC:
            d[j] *= _derivative(out[j], kinds[n_layers - 1])
    for l in range(n_layers - 1, 0, -1):                           # BP2
        w, d = wts[l], deltas[l][e]
        a_prev, d_prev, dfac = acts[l - 1][e], deltas[l - 1][e], dfacs[l - 1][e]
        d_prev[:] = 0
        for k in range(widths[l]):
            c = d[k]
            row = w[k]
            for i in range(d_prev.size):
                d_prev[i] += c * row[i]
        if keeps[l].shape[0]:
            for i in range(d_prev.size):
                d_prev[i] *= s * dfac[i]
        else:
            for i in range(d_prev.size):
                d_prev[i] *= s * _derivative(a_prev[i], kinds[l - 1])


@compiled(fastmath=FAST)
def _descend(rows, count, k, start, m, per_example, masks, keep0, scale0, x, tws, tbs,
             acts, deltas, widths, cw, cb):
    """Subtract the mini-batch's summed gradients, (BP3) times cb from the
    bias-shaped ``tbs`` and (BP4) times cw from the weight-shaped ``tws``
    (the weights themselves for SGD, the velocities for momentum).  The
    first layer's gradient visits only the (kept) non-zero pixels."""
    n_layers = len(tws)
    for l in range(n_layers):                                   # BP3
        b = tbs[l]
        for e in range(count):
            d = deltas[l][e]
            for j in range(b.size):
                b[j] -= cb * d[j]
    w0 = tws[0]                                                  # BP4, sparse input
    for e in range(count):
        d = deltas[0][e]
        r = rows[e]
        mrow = _mask_row(k, start, m, e, per_example)
        for q in range(masks.shape[1]):
            word = _input_word(r, q, mrow, masks, keep0)
            while word:
                i, word = _next_pixel(word, q)
                v, row = cw * _input(x, r, i, keep0, scale0), w0[i]
                for j in range(d.size):
                    row[j] -= v * d[j]
    for l in range(1, n_layers):                                 # BP4, dense
        w = tws[l]
        for j in range(widths[l]):
            row = w[j]
            for e in range(count):
                c = cw * deltas[l][e, j]
                if c != 0:
                    a_prev = acts[l - 1][e]
                    for i in range(a_prev.size):
                        row[i] -= c * a_prev[i]


@compiled(fastmath=FAST)
def _sgd_update(wts, reg, reg_step, s):
    """The regulariser's part of a plain SGD step, before the gradient's:
    L1 moves every weight by reg_step * sgn(w) at its old value (equation
    (97)); L2's factor (1 - eta lmbda / n) of equation (93) only multiplies
    the scale s.  Returns the new s."""
    t = wts[0].dtype.type
    if reg == REG_L1:
        for l in range(len(wts)):
            w = wts[l].ravel()
            for i in range(w.size):
                if w[i] > 0:
                    w[i] -= t(reg_step)
                elif w[i] < 0:
                    w[i] += t(reg_step)
    return s * (1.0 - reg_step) if reg == REG_L2 else s


@compiled(fastmath=FAST)
def _regularized_velocity(p, v, reg, reg_step, mu, nesterov):
    """Momentum's step before the gradient's, for one parameter array p and
    its velocity v: v -> mu v - reg_step * (w, sgn w or 0), the velocity of
    equation (107) with the regulariser's gradient ((93): (lmbda/n) w,
    (97): (lmbda/n) sgn w; reg_step = eta lmbda / n) at the old p.

    Nesterov's reformulated update p' = p - mu v + (1 + mu) v' (see
    ``optimizers.Momentum``) takes its - mu v here, with the old v."""
    t = p.dtype.type
    p, v = p.ravel(), v.ravel()
    for i in range(p.size):
        g = t(0)
        if reg == REG_L2:
            g = t(reg_step) * p[i]
        elif reg == REG_L1:
            g = t(reg_step) if p[i] > 0 else (-t(reg_step) if p[i] < 0 else t(0))
        if nesterov:
            p[i] -= t(mu) * v[i]
        v[i] = t(mu) * v[i] - g


@compiled(fastmath=FAST)
def _move(p, v, factor):
    """p -> p + factor v: equation (108) (factor 1), or Nesterov's
    (1 + mu) v' (see ``_regularized_velocity``)."""
    t = p.dtype.type
    p, v = p.ravel(), v.ravel()
    for i in range(p.size):
        p[i] += t(factor) * v[i]


@compiled(fastmath=FAST)
def _penalty(w, reg, rate):
    """The regulariser's gradient at the weight w, as
    ``regularization.L2/L1.add_gradient`` adds it: rate * w (equation
    (93)'s term), rate * sgn w ((97)'s, sgn 0 = 0) or 0; rate = lmbda / n."""
    t = type(w)
    if reg == REG_L2:
        return t(rate) * w
    if reg == REG_L1:
        return t(rate) if w > 0 else (-t(rate) if w < 0 else t(0))
    return t(0)


@compiled(fastmath=FAST)
def _adaptive_step(p, g, first, second, optimizer, size, root, beta1, beta2, eps, reg, rate):
    """One adaptive step of the parameters p from their mean gradient g plus
    the regulariser's term at the old p (``_penalty``), element by element
    as ``optimizers.Adam``, ``RMSProp`` and ``AdaGrad`` compute it: Adam
    updates its moments ``first`` (m) and ``second`` (v) and moves p by
    size * m / (sqrt(v) / root + eps), with size = eta / (1 - beta1^t) and
    root = sqrt(1 - beta2^t); RMSProp's mean square (rho = beta2) and
    AdaGrad's sum of squares are ``second``, and p moves by size * g /
    (sqrt(second) + eps), with size = eta.  g is left all 0, ready for the
    next step's sums."""
    t = p.dtype.type
    p, g, second = p.ravel(), g.ravel(), second.ravel()
    size, eps = t(size), t(eps)
    if optimizer == OPT_ADAM:
        first = first.ravel()
        r, c1, b2, c2 = t(root), t(1.0 - beta1), t(beta2), t(1.0 - beta2)
        for i in range(p.size):
            gi = g[i] + _penalty(p[i], reg, rate)
            g[i] = 0
            first[i] += c1 * (gi - first[i])
            second[i] = second[i] * b2 + gi * gi * c2
            p[i] -= first[i] / (np.sqrt(second[i]) / r + eps) * size
        return
    rho, c2 = t(beta2), t(1.0 - beta2)
    for i in range(p.size):
        gi = g[i] + _penalty(p[i], reg, rate)
        g[i] = 0
        if optimizer == OPT_RMSPROP:
            second[i] = second[i] * rho + c2 * gi * gi
        else:
            second[i] += gi * gi
        p[i] -= gi / (np.sqrt(second[i]) + eps) * size


@compiled(fastmath=FAST)
def _adaptive_update(rows, count, k, start, m, per_example, masks, keep0, scale0, x, wts, bs,
                     acts, deltas, widths, reg, rate, optimizer, tstep, eta, beta1, beta2, eps,
                     mws, mbs, vws, vbs, gws, gbs):
    """Step ``tstep`` (counted from 1) of Adam, RMSProp or AdaGrad: gather
    the mini-batch's mean gradient (BP3, BP4 over the count examples) in
    ``gws``, ``gbs`` (all 0 before, and again after), then update the state
    (``mws``, ``mbs``: Adam's first moments; ``vws``, ``vbs``: the second,
    RMSProp's or AdaGrad's) and the parameters, the weights' gradient with
    the regulariser's term (rate = lmbda / n)."""
    mean = wts[0].dtype.type(-1.0 / count)
    _descend(rows, count, k, start, m, per_example, masks, keep0, scale0, x, gws, gbs,
             acts, deltas, widths, mean, mean)
    size, root = eta, 1.0
    if optimizer == OPT_ADAM:
        size = eta / (1.0 - beta1 ** float(tstep))
        root = np.sqrt(1.0 - beta2 ** float(tstep))
    for l in range(len(wts)):
        _adaptive_step(wts[l], gws[l], mws[l], vws[l], optimizer, size, root, beta1, beta2,
                       eps, reg, rate)
        _adaptive_step(bs[l], gbs[l], mbs[l], vbs[l], optimizer, size, root, beta1, beta2,
                       eps, REG_NONE, 0.0)


@compiled(fastmath=FAST)
def _max_norm(wts, c, s):
    """Scale back every neuron's incoming weights, (true) norm above c, to
    norm c: the columns of the first layer's W^T, the rows of each later W;
    the true weights are s * V."""
    t = wts[0].dtype.type
    w0 = wts[0]
    norms = np.zeros(w0.shape[1], dtype=w0.dtype)
    for i in range(w0.shape[0]):
        row = w0[i]
        for j in range(row.size):
            norms[j] += row[j] * row[j]
    for j in range(norms.size):
        norm = s * np.sqrt(norms[j])
        norms[j] = t(c / norm) if norm > c else t(1)
    for i in range(w0.shape[0]):
        row = w0[i]
        for j in range(row.size):
            row[j] *= norms[j]
    for l in range(1, len(wts)):
        w = wts[l]
        for j in range(w.shape[0]):
            row = w[j]
            total = t(0)
            for i in range(row.size):
                total += row[i] * row[i]
            norm = s * np.sqrt(total)
            if norm > c:
                f = t(c / norm)
                for i in range(row.size):
                    row[i] *= f


@compiled(fastmath=FAST)
def _rescale(wts, s):
    """Multiply every V by s, so that the stored weights are the true ones."""
    t = wts[0].dtype.type
    for l in range(len(wts)):
        w = wts[l].ravel()
        for i in range(w.size):
            w[i] *= t(s)


@compiled(fastmath=FAST, nogil=True)
def sgd_batches(masks, x, y, order, start, stop, m,
                wts, bs, kinds, widths, cost, eta, reg, reg_step,
                optimizer, mu, vws, vbs, max_norm, keep0, scale0, keeps, per_example,
                t0, beta1, beta2, eps, mws, mbs, gws, gbs):
    """Take SGD steps on the mini-batches order[start:start+m], ... up to
    position ``stop``, changing the transposed weights ``wts`` and the biases
    ``bs`` in place.

    ``kinds`` holds each layer's activation code, ``widths`` its real number
    of units (the buffers may be wider), ``cost`` says how the
    output delta is formed, ``reg_step`` is eta * lmbda / n.

    ``optimizer`` is OPT_SGD, or OPT_MOMENTUM / OPT_NESTEROV with
    co-efficient ``mu`` and the velocities ``vws``, ``vbs`` (in the layout of
    ``wts``, ``bs``; changed in place), or OPT_ADAM / OPT_RMSPROP /
    OPT_ADAGRAD (``_adaptive_update``) with ``t0`` steps taken before this
    call, Adam's ``beta1`` and ``beta2`` (RMSProp's rho is ``beta2``), ``eps``,
    the state ``mws``, ``mbs`` (Adam's first moments), ``vws``, ``vbs`` (the
    second moments, mean squares or sums of squares), gradient buffers
    ``gws``, ``gbs`` (all 0), all in the layout of ``wts``, ``bs``, and ``reg_step``
    lmbda / n (the penalty's gradient, not a decay factor).  Every state
    array (tuples of empty arrays when unused) has one entry per layer.
    ``max_norm`` > 0 bounds each
    neuron's incoming weights after every step.  Dropout: ``keep0`` holds
    the bits of the kept input pixels (no rows: no input dropout), which are
    scaled by ``scale0``; ``keeps[l]`` (l >= 1) the masks of the hidden
    outputs layer l reads (0 or 1/(1-p); no rows: none); their rows belong
    to the examples from position ``start`` (``per_example``) or to the
    mini-batches.

    Returns -1, or the position in ``order`` of the mini-batch after which
    an output bias became NaN or infinite: the kernel stops there, since a
    NaN anywhere reaches the output biases within one step.
    """
    t = wts[0].dtype.type
    acts = [np.zeros((m, b.size), dtype=b.dtype) for b in bs]   # outputs a (thinned)
    dfacs = [np.zeros((m, b.size), dtype=b.dtype) for b in bs]  # sigma'(z) (times mask)
    deltas = [np.zeros((m, b.size), dtype=b.dtype) for b in bs]
    s = 1.0
    out = bs[len(bs) - 1]
    sc0 = t(scale0)
    for k in range(start, stop, m):
        count = min(m, stop - k)
        rows = order[k:k + count]
        _prefetch_examples(order[k + m:k + 2 * m], masks, x, y)
        ts = t(s)
        for e in range(count):
            mrow = _mask_row(k, start, m, e, per_example)
            _forward(rows[e], e, mrow, masks, keep0, sc0, x, wts, bs, acts, dfacs, keeps,
                     kinds, widths, ts)
            _backward(rows[e], e, y, wts, acts, dfacs, keeps, deltas, kinds, widths, cost, ts)
        step = eta / count
        if optimizer >= OPT_ADAM:
            _adaptive_update(rows, count, k, start, m, per_example, masks, keep0, sc0, x,
                             wts, bs, acts, deltas, widths, reg, reg_step, optimizer,
                             t0 + (k - start) // m + 1, eta, beta1, beta2, eps,
                             mws, mbs, vws, vbs, gws, gbs)
        elif optimizer == OPT_SGD:
            s = _sgd_update(wts, reg, reg_step, s)
            _descend(rows, count, k, start, m, per_example, masks, keep0, sc0, x, wts, bs,
                     acts, deltas, widths, t(step / s), t(step))
        else:                                                   # (107)-(108)
            nesterov = optimizer == OPT_NESTEROV
            for l in range(len(wts)):
                _regularized_velocity(wts[l], vws[l], reg, reg_step, mu, nesterov)
                _regularized_velocity(bs[l], vbs[l], REG_NONE, 0.0, mu, nesterov)
            _descend(rows, count, k, start, m, per_example, masks, keep0, sc0, x, vws, vbs,
                     acts, deltas, widths, t(step), t(step))
            factor = 1.0 + mu if nesterov else 1.0
            for l in range(len(wts)):
                _move(wts[l], vws[l], factor)
                _move(bs[l], vbs[l], factor)
        if max_norm > 0:
            _max_norm(wts, max_norm, s)
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
