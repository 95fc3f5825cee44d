/* nndl playground widgets: the chapter's interactive figures, written for nndl.
 *
 * One global object, NNDL, with two halves:
 *   - numerics that mirror nndl's Python line by line (sigmoid, the costs, one
 *     neuron's gradient descent, softmax, the digit preprocessing of
 *     nndl.images, a network's forward pass), so that the browser tests can
 *     compare them with Python's numbers;
 *   - widgets, each a function mount(el, options) that builds its controls
 *     inside the element el: neuron, softmax, draw, weights, curves.
 * The page (nndl playground) inlines this file; a notebook widget can load the
 * same file and call the same mount functions.  No outside request is made.
 */
"use strict";

var NNDL = (function () {
  // ------------------------------------------------------------ numerics
  /** sigma(z) computed as nndl.activations.Sigmoid does: (1 + tanh(z/2)) / 2. */
  function sigmoid(z) {
    return Math.tanh(z * 0.5) * 0.5 + 0.5;
  }

  /** numpy.logaddexp(0, z) = ln(1 + e^z), finite for any z. */
  function logOnePlusExp(z) {
    return Math.max(0, z) + Math.log1p(Math.exp(-Math.abs(z)));
  }

  /** The two costs of one sigmoid neuron, as nndl.costs defines them:
   *  fn(a, y, z) the cost, delta(z, a, y) = dC/dz. */
  var COSTS = {
    quadratic: {
      fn: function (a, y) { var d = a - y; return 0.5 * (d * d); },
      delta: function (z, a, y) { return (a - y) * (a * (1.0 - a)); }   // equation (55)
    },
    "cross-entropy": {
      fn: function (a, y, z) {                                          // equation (57), from z
        return y * logOnePlusExp(-z) + (1.0 - y) * logOnePlusExp(z);
      },
      delta: function (z, a, y) { return a - y; }                       // equation (61)
    }
  };

  /** Gradient descent on one neuron with one input, as
   *  nndl.experiments.slowdown.learn: returns the output and the cost before
   *  each step and after the last (epochs + 1 values each), and w, b. */
  function learn(w, b, cost, eta, epochs, x, y) {
    x = x === undefined ? 1.0 : x;
    y = y === undefined ? 0.0 : y;
    var c = COSTS[cost];
    if (!c) { throw new Error("unknown cost " + cost); }
    var outputs = [], costs = [], ws = [], bs = [];
    for (var k = 0; k <= epochs; k++) {
      var z = w * x + b;
      var a = sigmoid(z);
      outputs.push(a);
      costs.push(c.fn(a, y, z));
      ws.push(w);
      bs.push(b);
      var delta = c.delta(z, a, y);
      w -= eta * (delta * x);
      b -= eta * delta;
    }
    return { outputs: outputs, costs: costs, w: ws, b: bs };
  }

  /** Softmax of c z (the chapter's equation (78), with the constant c of its
   *  exercise), subtracting the maximum first as nndl.activations.Softmax. */
  function softmax(z, c) {
    c = c === undefined ? 1.0 : c;
    var cz = z.map(function (v) { return c * v; });
    var m = Math.max.apply(null, cz);
    var e = cz.map(function (v) { return Math.exp(v - m); });
    var s = e.reduce(function (p, q) { return p + q; }, 0);
    return e.map(function (v) { return v / s; });
  }

  // ------------------------------------------- digit preprocessing (mirror)
  /* PREPROCESSING MIRROR of nndl.images.preprocess (and of the grayscale step
   * of nndl.images._grayscale for an opaque RGBA canvas).  Keep it in step
   * with the Python: tests/test_playground.py compares the two on the same
   * images, pixel by pixel.  Pillow's Lanczos resize of a float ("F") image
   * is reproduced exactly: its coefficients, its rounding of the support, and
   * its two passes (horizontal, then vertical) with float32 storage between. */
  var SIDE = 28, BOX = 20, INK = 0.1, MIN_CONTRAST = 0.03;          // nndl.images' constants
  var NOISE_FLOOR = 1.0, NOISE_INK = 4.0, COMPANION = 0.1, NEAR = 0.5, EDGE_CONTACT = 0.25, MARGIN = 2;
  var MAX_SQUARE = 31;

  /** Gray levels 0..255 of RGBA pixels, as Pillow's convert("L") computes them. */
  function grayFromRGBA(rgba) {
    var n = rgba.length / 4, g = new Float64Array(n);
    for (var i = 0; i < n; i++) {
      g[i] = (rgba[4 * i] * 19595 + rgba[4 * i + 1] * 38470 + rgba[4 * i + 2] * 7471 + 0x8000) >> 16;
    }
    return g;
  }

  /** numpy.median */
  function median(values) {
    var s = Float64Array.from(values).sort(), n = s.length;
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  /** Python's round(): halves go to the even neighbour. */
  function roundHalfEven(v) {
    var f = Math.floor(v), d = v - f;
    if (d > 0.5) { return f + 1; }
    if (d < 0.5) { return f; }
    return f % 2 === 0 ? f : f + 1;
  }

  function sinc(x) {
    if (x === 0.0) { return 1.0; }
    x = x * Math.PI;
    return Math.sin(x) / x;
  }

  function lanczos(x) {
    return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
  }

  /** Pillow's precompute_coeffs for one axis: per output pixel, the first
   *  input pixel, how many, and the normalised weights. */
  function resampleCoefficients(inSize, outSize) {
    var scale = inSize / outSize, filterscale = Math.max(scale, 1.0);
    var support = 3.0 * filterscale, taps = [];
    for (var xx = 0; xx < outSize; xx++) {
      var center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
      var xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      var xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      var k = [], ww = 0.0;
      for (var x = 0; x < xmax; x++) {
        var wgt = lanczos((x + xmin - center + 0.5) * ss);
        k.push(wgt);
        ww += wgt;
      }
      if (ww !== 0.0) { k = k.map(function (v) { return v / ww; }); }
      taps.push({ start: xmin, weights: k });
    }
    return taps;
  }

  /** Resize a float32 image (h x w, row-major) to nh x nw as Pillow's
   *  Image.resize(..., LANCZOS) does for mode "F". */
  function lanczosResize(src, h, w, nh, nw) {
    if (h === nh && w === nw) { return Float32Array.from(src); }
    var img = src, rows = h, cols = w;
    if (nw !== w) {                                   // horizontal pass
      var th = resampleCoefficients(w, nw), out = new Float32Array(rows * nw);
      for (var y = 0; y < rows; y++) {
        for (var xx = 0; xx < nw; xx++) {
          var t = th[xx], s = 0.0;
          for (var i = 0; i < t.weights.length; i++) { s += img[y * cols + t.start + i] * t.weights[i]; }
          out[y * nw + xx] = s;
        }
      }
      img = out; cols = nw;
    }
    if (nh !== h) {                                   // vertical pass
      var tv = resampleCoefficients(h, nh), out2 = new Float32Array(nh * cols);
      for (var yy = 0; yy < nh; yy++) {
        var tt = tv[yy];
        for (var x2 = 0; x2 < cols; x2++) {
          var s2 = 0.0;
          for (var j = 0; j < tt.weights.length; j++) { s2 += img[(tt.start + j) * cols + x2] * tt.weights[j]; }
          out2[yy * cols + x2] = s2;
        }
      }
      img = out2;
    }
    return img;
  }

  /** The 784 inputs the network should see for a gray image (values 0..255,
   *  height x width, row-major), exactly as nndl.images.preprocess computes
   *  them; or null where it raises ImageError (no digit).  The same three
   *  steps: the ink (paper divided out, noise taken off), the digit (its
   *  connected pieces of ink), MNIST's placement. */
  function preprocess(gray, height, width) {
    var a = grayLevels(gray, height, width);
    if (!a) { return null; }
    var found = digit(inkMap(a, height, width), height, width);
    if (!found) { return null; }
    return mnistPlacement(crop(found.ink, width, found.box));
  }

  function arrayMax(a) {
    var m = -Infinity;
    for (var i = 0; i < a.length; i++) { if (a[i] > m) { m = a[i]; } }
    return m;
  }

  /** a[::rowStep, ::colStep] of an h x w image, flattened (NumPy's slicing). */
  function strided(a, h, w, rowStep, colStep) {
    var out = new Float64Array(Math.ceil(h / rowStep) * Math.ceil(w / colStep)), i = 0;
    for (var r = 0; r < h; r += rowStep) {
      for (var c = 0; c < w; c += colStep) { out[i++] = a[r * w + c]; }
    }
    return out;
  }

  /** nndl.images._gray_levels for bytes: gray levels in [0, 1], or null for a
   *  bad or blank image. */
  function grayLevels(gray, h, w) {
    var n = h * w, scale = 255.0, a = new Float64Array(n), lo = Infinity, hi = -Infinity;
    if (!(h > 0 && w > 0) || gray.length !== n) { return null; }
    for (var i = 0; i < n; i++) {
      a[i] = Number(gray[i]);
      if (!isFinite(a[i])) { return null; }
      lo = Math.min(lo, a[i]); hi = Math.max(hi, a[i]);
    }
    if (hi - lo < MIN_CONTRAST * scale) { return null; }
    var low = Math.min(lo, 0.0), high = Math.max(hi, scale);   // values outside the scale: stretch it
    for (i = 0; i < n; i++) { a[i] = (a[i] - low) / (high - low); }
    return a;
  }

  /** nndl.images._ink: the ink map (0 on the paper, up to 1 for the darkest
   *  ink; written over gray) and the noise's standard deviation.  The median
   *  decides the polarity; dark ink is the fraction of the paper's light it
   *  absorbs, light ink its excess over the background. */
  function inkMap(gray, h, w) {
    var n = h * w, i, lo = Infinity, hi = -Infinity;
    for (i = 0; i < n; i++) { lo = Math.min(lo, gray[i]); hi = Math.max(hi, gray[i]); }
    var step = Math.max(1, Math.floor(Math.max(h, w) / 256));
    var darkInk = median(strided(gray, h, w, step, step)) > (lo + hi) / 2;
    if (darkInk) { for (i = 0; i < n; i++) { gray[i] = 1.0 - gray[i]; } }   // ink bright
    var fit = paperFit(gray, h, w), background = fit.surface, sigma = fit.sigma;
    for (i = 0; i < n; i++) { gray[i] -= background[i]; }
    if (darkInk) {
      var paper = background;
      for (i = 0; i < n; i++) { paper[i] = Math.max(1.0 - background[i], 1e-6); gray[i] /= paper[i]; }
      sigma /= median(strided(paper, h, w, Math.max(1, Math.floor(h / 64)), 1));
    }
    var off = NOISE_FLOOR * sigma + 1e-9;
    for (i = 0; i < n; i++) { gray[i] = Math.min(Math.max(gray[i] - off, 0.0), 1.0); }
    return { ink: gray, sigma: sigma };
  }

  /** nndl.images._unit: pixel index i of n mapped onto [-1, 1]. */
  function unit(i, n) { return 2.0 * i / Math.max(n - 1, 1) - 1.0; }

  /** nndl.images._quadratic_terms: 1, x, y, x^2, xy, y^2. */
  function quadraticTerms(y, x) { return [1.0, x, y, x * x, x * y, y * y]; }

  /** numpy.linalg.solve for a small system: Gaussian elimination with
   *  partial pivoting, as LAPACK's gesv does. */
  function solve(m, b) {
    var n = b.length, a = m.map(function (row, i) { return row.concat([b[i]]); }), i, j, k;
    for (k = 0; k < n; k++) {
      var p = k;
      for (i = k + 1; i < n; i++) { if (Math.abs(a[i][k]) > Math.abs(a[p][k])) { p = i; } }
      var t = a[k]; a[k] = a[p]; a[p] = t;
      for (i = k + 1; i < n; i++) {
        var f = a[i][k] / a[k][k];
        for (j = k; j <= n; j++) { a[i][j] -= f * a[k][j]; }
      }
    }
    var x = new Array(n);
    for (i = n - 1; i >= 0; i--) {
      var s = a[i][n];
      for (j = i + 1; j < n; j++) { s -= a[i][j] * x[j]; }
      x[i] = s / a[i][i];
    }
    return x;
  }

  /** Least squares of the kept rows: solve(A'A + 1e-12 I, A'v). */
  function fitRows(design, values, keep) {
    var m = design[0].length, ata = [], atb = [], i, j, k;
    for (j = 0; j < m; j++) { ata.push(new Array(m).fill(0.0)); atb.push(0.0); }
    for (i = 0; i < values.length; i++) {
      if (!keep[i]) { continue; }
      var d = design[i];
      for (j = 0; j < m; j++) {
        atb[j] += d[j] * values[i];
        for (k = 0; k < m; k++) { ata[j][k] += d[j] * d[k]; }
      }
    }
    for (j = 0; j < m; j++) { ata[j][j] += 1e-12; }
    return solve(ata, atb);
  }

  /** nndl.images._background: a robust quadratic fit to the paper of u (ink
   *  bright) on at most 128 x 128 samples, refitted for up to 10 rounds to
   *  the pixels at most 3 MAD-sigmas above it; the surface at every pixel and
   *  the noise's standard deviation. */
  function paperFit(u, h, w) {
    var samples = 128, rounds = 10, step = Math.max(1, Math.ceil(Math.max(h, w) / samples));
    var design = [], r, c, i;
    for (r = 0; r < h; r += step) {
      for (c = 0; c < w; c += step) { design.push(quadraticTerms(unit(r, h), unit(c, w))); }
    }
    var values = strided(u, h, w, step, step), n = values.length, m = design[0].length;
    var cut = median(values), keep = new Uint8Array(n), coef, sigma;
    for (i = 0; i < n; i++) { keep[i] = values[i] <= cut ? 1 : 0; }   // the darker half: paper
    for (var round = 0; round < rounds; round++) {
      coef = fitRows(design, values, keep);
      var residual = new Float64Array(n), kept = [];
      for (i = 0; i < n; i++) {
        var d = design[i];
        residual[i] = values[i] - (d[0] * coef[0] + d[1] * coef[1] + d[2] * coef[2] +
                                   d[3] * coef[3] + d[4] * coef[4] + d[5] * coef[5]);
        if (keep[i]) { kept.push(residual[i]); }
      }
      var mid = median(kept);
      sigma = 1.4826 * median(kept.map(function (v) { return Math.abs(v - mid); }));
      var fresh = new Uint8Array(n), count = 0, same = true;
      for (i = 0; i < n; i++) {
        fresh[i] = residual[i] <= 3 * sigma + 1e-6 ? 1 : 0;   // ink only ever lies above the paper
        count += fresh[i]; same = same && fresh[i] === keep[i];
      }
      if (count < m || same) { break; }
      keep = fresh;
    }
    var surface = new Float64Array(h * w);
    for (r = 0; r < h; r++) {
      var y = unit(r, h), slope = coef[1] + coef[4] * y, level = coef[0] + coef[2] * y + coef[5] * y * y;
      for (c = 0; c < w; c++) {
        var x = unit(c, w);
        surface[r * w + c] = slope * x + level + coef[3] * x * x;
      }
    }
    return { surface: surface, sigma: sigma };
  }

  /** nndl.images._digit: keep the digit's pieces of ink (and faint pixels
   *  within MARGIN of them), scaled to peak 1, and their bounding box; null
   *  if there is none. */
  function digit(found, h, w) {
    var ink = found.ink, peak = arrayMax(ink);
    if (peak <= 0.0) { return null; }
    var m = inkMask(ink, h, w, peak, found.sigma);
    var runs = findRuns(m.mask, m.weights, h, w), kept = chooseDigit(runs);
    if (!kept) { return null; }
    var near = dilate(paintRuns(runs, kept), h, w, MARGIN);
    for (var i = 0; i < ink.length; i++) { if (!near[i]) { ink[i] = 0.0; } }
    var top = arrayMax(ink);
    if (top <= 0.0) { return null; }
    for (i = 0; i < ink.length; i++) { ink[i] /= top; }
    return { ink: ink, box: runBox(runs, kept) };
  }

  /** nndl.images._ink_mask: ink brighter than INK of the peak, on the map
   *  averaged over k x k squares (k at most MAX_SQUARE) when the noise could
   *  pass that bar. */
  function inkMask(ink, h, w, peak, sigma) {
    var k = Math.min(Math.ceil(NOISE_INK * sigma / (INK * peak)), MAX_SQUARE), weights = ink, bar = INK * peak;
    if (k > 1) {
      weights = boxMean(ink, h, w, k % 2 ? k : k + 1);
      bar = INK * arrayMax(weights);
    }
    var mask = new Uint8Array(h * w);
    for (var i = 0; i < mask.length; i++) { mask[i] = weights[i] > bar ? 1 : 0; }
    return { mask: mask, weights: weights };
  }

  /** nndl.images._box_mean: the mean over the k x k square (k odd) centred
   *  on each pixel, the edge repeated beyond the image; the same summed-area
   *  table (columns summed first, then rows), so the same roundings. */
  function boxMean(a, h, w, k) {
    var r = (k - 1) / 2, H = h + 2 * r, W = w + 2 * r, S = W + 1, t = new Float64Array((H + 1) * S);
    var i, j, s;
    for (j = 0; j < W; j++) {
      var col = Math.min(Math.max(j - r, 0), w - 1);
      for (s = 0.0, i = 0; i < H; i++) {
        s += a[Math.min(Math.max(i - r, 0), h - 1) * w + col];
        t[(i + 1) * S + j + 1] = s;
      }
    }
    for (i = 1; i <= H; i++) {
      for (s = 0.0, j = 1; j <= W; j++) { s += t[i * S + j]; t[i * S + j] = s; }
    }
    var out = new Float64Array(h * w);
    for (i = 0; i < h; i++) {
      for (j = 0; j < w; j++) {
        out[i * w + j] = (t[(i + k) * S + j + k] - t[i * S + j + k] - t[(i + k) * S + j] + t[i * S + j]) / (k * k);
      }
    }
    return out;
  }

  /** nndl.images._Runs: the mask's horizontal runs (row, start, end
   *  exclusive, in reading order), joined into 8-connected pieces, and each
   *  piece's mass, centre of mass, extent and contact with the image's sides.
   *  Masses are summed in float32 along each row, as the Python does. */
  function findRuns(mask, weights, h, w) {
    var row = [], start = [], end = [], r, c, i;
    for (r = 0; r < h; r++) {
      for (c = 0; c < w; c++) {
        var on = mask[r * w + c];
        if (on && (c === 0 || !mask[r * w + c - 1])) { row.push(r); start.push(c); }
        if (on && (c === w - 1 || !mask[r * w + c + 1])) { end.push(c + 1); }
      }
    }
    var runs = { shape: [h, w], row: row, start: start, end: end, piece: joinRuns(row, start, end) };
    var f = Math.fround, mass = [], momentX = [];
    var sums = new Float32Array(w + 1), moments = new Float32Array(w + 1), done = -1;
    for (i = 0; i < row.length; i++) {
      if (row[i] !== done) {                       // the row's float32 running sums
        done = row[i];
        for (c = 0; c < w; c++) {
          var v = f(weights[done * w + c]);
          sums[c + 1] = sums[c] + v;
          moments[c + 1] = moments[c] + f(v * c);
        }
      }
      mass.push(f(sums[end[i]] - sums[start[i]]));
      momentX.push(f(moments[end[i]] - moments[start[i]]));
    }
    weighPieces(runs, mass, momentX);
    return runs;
  }

  /** nndl.images._Runs._join: label each run with its piece, 0, 1, ... in
   *  the order of the pieces' first runs (union-find; a root is always the
   *  piece's first run, as in the Python). */
  function joinRuns(row, start, end) {
    var n = row.length, parent = new Int32Array(n), i, j, lo = 0;
    for (i = 0; i < n; i++) { parent[i] = i; }
    function root(i) {
      while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; }
      return i;
    }
    for (i = 0; i < n; i++) {
      // skip the runs above that end before this one starts (both sorted)
      while (lo < n && (row[lo] < row[i] - 1 || (row[lo] === row[i] - 1 && end[lo] < start[i]))) { lo++; }
      for (j = lo; j < n && row[j] === row[i] - 1 && start[j] <= end[i]; j++) {   // they touch, diagonally too
        var a = root(i), b = root(j);
        if (a !== b) { parent[Math.max(a, b)] = Math.min(a, b); }
      }
    }
    var label = new Int32Array(n), pieces = 0;
    for (i = 0; i < n; i++) { var p = root(i); label[i] = p === i ? pieces++ : label[p]; }
    return label;
  }

  /** The per-piece sums of nndl.images._Runs.__init__ (bincount in run order). */
  function weighPieces(runs, mass, momentX) {
    var h = runs.shape[0], w = runs.shape[1], n = 0, i;
    for (i = 0; i < runs.piece.length; i++) { n = Math.max(n, runs.piece[i] + 1); }
    var zero = function (v) { return new Array(n).fill(v); };
    var m = zero(0.0), my = zero(0.0), mx = zero(0.0), sides = [zero(0.0), zero(0.0), zero(0.0), zero(0.0)];
    runs.top = zero(h); runs.bottom = zero(0); runs.left = zero(w); runs.right = zero(-1);
    for (i = 0; i < runs.piece.length; i++) {
      var p = runs.piece[i], r = runs.row[i], length = runs.end[i] - runs.start[i];
      m[p] += mass[i]; my[p] += mass[i] * r; mx[p] += momentX[i];
      runs.top[p] = Math.min(runs.top[p], r); runs.bottom[p] = Math.max(runs.bottom[p], r + 1);
      runs.left[p] = Math.min(runs.left[p], runs.start[i]); runs.right[p] = Math.max(runs.right[p], runs.end[i]);
      sides[0][p] += runs.start[i] === 0 ? 1 : 0;
      sides[1][p] += runs.end[i] === w ? 1 : 0;
      sides[2][p] += r === 0 ? length : 0;
      sides[3][p] += r === h - 1 ? length : 0;
    }
    runs.mass = m;
    runs.cy = my.map(function (v, p) { return v / m[p]; });
    runs.cx = mx.map(function (v, p) { return v / m[p]; });
    runs.contact = m.map(function (_, p) {
      return Math.max(sides[0][p] / h, sides[1][p] / h, sides[2][p] / w, sides[3][p] / w);
    });
  }

  /** nndl.images._Runs.digit: the heaviest piece, favouring the centre, never
   *  one along the image's edge, and the pieces near it with COMPANION of its
   *  mass; a boolean per piece, or null when there is no ink or the best
   *  piece runs along the edge (the Python raises ImageError). */
  function chooseDigit(runs) {
    var n = runs.mass.length, h = runs.shape[0], w = runs.shape[1], p, main = 0, score = [], edge = [];
    if (n === 0) { return null; }
    for (p = 0; p < n; p++) {
      var off = Math.hypot((runs.cy[p] - (h - 1) / 2) / h, (runs.cx[p] - (w - 1) / 2) / w);
      var touches = runs.top[p] === 0 || runs.left[p] === 0 || runs.bottom[p] === h || runs.right[p] === w;
      edge.push(runs.contact[p] > EDGE_CONTACT);
      score.push(runs.mass[p] / (1 + 4 * off * off) * (edge[p] ? 0.01 : touches ? 0.7 : 1.0));
      if (score[p] > score[main]) { main = p; }              // the first of equals, as argmax
    }
    if (edge[main]) { return null; }                         // only the image's edge is dark
    var reach = NEAR * Math.max(runs.bottom[main] - runs.top[main], runs.right[main] - runs.left[main]);
    var kept = [];
    for (p = 0; p < n; p++) {
      var near = runs.top[p] < runs.bottom[main] + reach && runs.bottom[p] > runs.top[main] - reach &&
                 runs.left[p] < runs.right[main] + reach && runs.right[p] > runs.left[main] - reach;
      kept.push(p === main || (near && !edge[p] && runs.mass[p] >= COMPANION * runs.mass[main]));
    }
    return kept;
  }

  /** nndl.images._Runs.paint: the kept pieces' pixels. */
  function paintRuns(runs, kept) {
    var w = runs.shape[1], mask = new Uint8Array(runs.shape[0] * w);
    for (var i = 0; i < runs.row.length; i++) {
      if (!kept[runs.piece[i]]) { continue; }
      for (var c = runs.start[i]; c < runs.end[i]; c++) { mask[runs.row[i] * w + c] = 1; }
    }
    return mask;
  }

  /** nndl.images._Runs.box: (row0, row1, col0, col1) of the kept pieces, end-exclusive. */
  function runBox(runs, kept) {
    var box = [Infinity, -Infinity, Infinity, -Infinity];
    kept.forEach(function (k, p) {
      if (!k) { return; }
      box[0] = Math.min(box[0], runs.top[p]); box[1] = Math.max(box[1], runs.bottom[p]);
      box[2] = Math.min(box[2], runs.left[p]); box[3] = Math.max(box[3], runs.right[p]);
    });
    return box;
  }

  /** nndl.images._dilate: grow a mask by r pixels in every direction (a square). */
  function dilate(mask, h, w, r) {
    var rows = new Uint8Array(h * w), out = new Uint8Array(h * w), y, x, k;
    for (y = 0; y < h; y++) {
      for (x = 0; x < w; x++) {
        for (k = Math.max(0, y - r); k <= Math.min(h - 1, y + r) && !rows[y * w + x]; k++) { rows[y * w + x] = mask[k * w + x]; }
      }
    }
    for (y = 0; y < h; y++) {
      for (x = 0; x < w; x++) {
        for (k = Math.max(0, x - r); k <= Math.min(w - 1, x + r) && !out[y * w + x]; k++) { out[y * w + x] = rows[y * w + k]; }
      }
    }
    return out;
  }

  /** ink[r0:r1, c0:c1] as float32 (the astype of nndl.images._mnist_placement). */
  function crop(ink, width, box) {
    var h = box[1] - box[0], w = box[3] - box[2], out = new Float32Array(h * w);
    for (var r = 0; r < h; r++) {
      for (var c = 0; c < w; c++) { out[r * w + c] = ink[(box[0] + r) * width + box[2] + c]; }
    }
    return { data: out, h: h, w: w };
  }

  /** nndl.images._mnist_placement: longer side to BOX pixels (Lanczos,
   *  keeping the aspect ratio), centre of mass to the centre of the field,
   *  quantised like MNIST's bytes / 256. */
  function mnistPlacement(box) {
    var h = box.h, w = box.w, s = BOX / Math.max(h, w), i, r, c;
    var nh = Math.max(1, roundHalfEven(h * s)), nw = Math.max(1, roundHalfEven(w * s));
    var small = lanczosResize(box.data, h, w, nh, nw), img = new Float64Array(nh * nw);
    for (i = 0; i < nh * nw; i++) { img[i] = Math.min(Math.max(small[i], 0.0), 1.0); }   // Lanczos overshoots
    var dmax = arrayMax(img);
    for (i = 0; i < nh * nw; i++) { img[i] /= dmax; }
    var total = 0.0, my = 0.0, mx = 0.0;
    for (r = 0; r < nh; r++) {
      var rowSum = 0.0;
      for (c = 0; c < nw; c++) { rowSum += img[r * nw + c]; }
      my += r * rowSum; total += rowSum;
    }
    for (c = 0; c < nw; c++) {
      var colSum = 0.0;
      for (r = 0; r < nh; r++) { colSum += img[r * nw + c]; }
      mx += c * colSum;
    }
    var cy = my / total, cx = mx / total;
    var y0 = Math.min(Math.max(Math.floor(SIDE / 2 - cy + 0.5), 0), SIDE - nh);
    var x0 = Math.min(Math.max(Math.floor(SIDE / 2 - cx + 0.5), 0), SIDE - nw);
    var field = new Float32Array(SIDE * SIDE);
    for (r = 0; r < nh; r++) {
      for (c = 0; c < nw; c++) {
        field[(y0 + r) * SIDE + x0 + c] = Math.floor(img[r * nw + c] * 255 + 0.5) / 256;
      }
    }
    return field;
  }
  /* END OF PREPROCESSING MIRROR */

  // ------------------------------------------------------------- network
  var HALF = null;

  /** IEEE half-precision bit patterns to numbers (a 65536-entry table). */
  function halfTable() {
    if (HALF) { return HALF; }
    HALF = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
      HALF[h] = e === 0 ? sign * m * Math.pow(2, -24)
        : e === 31 ? (m ? NaN : sign * Infinity)
          : sign * (1 + m / 1024) * Math.pow(2, e - 15);
    }
    return HALF;
  }

  function base64Bytes(text) {
    var bin = atob(text), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return bytes;
  }

  /** Numbers stored as little-endian float32 or float16, base64-encoded. */
  function decodeArray(text, encoding) {
    var bytes = base64Bytes(text);
    if (encoding === "float32") { return new Float32Array(bytes.buffer); }
    if (encoding !== "float16") { throw new Error("unknown weight encoding " + encoding); }
    var bits = new Uint16Array(bytes.buffer), table = halfTable(), out = new Float32Array(bits.length);
    for (var i = 0; i < bits.length; i++) { out[i] = table[bits[i]]; }
    return out;
  }

  /** The page's model description -> {sizes, activations, weights, biases}. */
  function decodeModel(spec) {
    var layers = spec.layers.map(function (layer) {
      return { w: decodeArray(layer.w, spec.encoding), b: decodeArray(layer.b, spec.encoding) };
    });
    return { sizes: spec.sizes, activations: spec.activations, layers: layers,
             encoding: spec.encoding, name: spec.name };
  }

  var ACTIVATIONS = {
    sigmoid: function (z) { return z.map(sigmoid); },
    tanh: function (z) { return z.map(Math.tanh); },
    relu: function (z) { return z.map(function (v) { return Math.max(v, 0.0); }); },
    linear: function (z) { return z; },
    softmax: function (z) { return softmax(z, 1.0); }
  };

  /** The network's outputs for one input x (a = f(W a + b) layer by layer). */
  function forward(model, x) {
    var a = Array.from(x);
    for (var l = 0; l < model.layers.length; l++) {
      var W = model.layers[l].w, b = model.layers[l].b, nIn = model.sizes[l], nOut = model.sizes[l + 1];
      var z = new Array(nOut);
      for (var j = 0; j < nOut; j++) {
        var s = b[j], row = j * nIn;
        for (var i = 0; i < nIn; i++) { s += W[row + i] * a[i]; }
        z[j] = s;
      }
      a = ACTIVATIONS[model.activations[l]](z);
    }
    return a;
  }

  /** The digit and probabilities nndl predict prints: softmax outputs as they
   *  are, other outputs normalised to sum to 1 (uniform if they sum to 0). */
  function predict(model, x) {
    var out = forward(model, x), sum = out.reduce(function (p, q) { return p + q; }, 0);
    var probs = out.map(function (v) { return sum > 0 ? v / sum : 1 / out.length; });
    var best = 0;
    for (var k = 1; k < out.length; k++) { if (out[k] > out[best]) { best = k; } }
    return { digit: best, probabilities: probs, outputs: out };
  }

  // --------------------------------------------------------- DOM helpers
  var uid = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "class") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function nextId(name) { uid += 1; return "nndl-" + uid + "-" + name; }

  /** A labelled slider with a number box beside it, kept in step. */
  function slider(label, opts, onChange) {
    var id = nextId("range");
    var range = el("input", { type: "range", id: id, min: opts.min, max: opts.max, step: opts.step, value: opts.value });
    var box = el("input", { type: "number", min: opts.min, max: opts.max, step: opts.step, value: opts.value,
                            "aria-label": label + " (number)", class: "nndl-number" });
    var row = el("div", { class: "nndl-slider" }, [el("label", { for: id, text: label }), range, box]);
    function set(v, from) {
      if (!isFinite(v)) { box.value = range.value; return; }
      if (from !== range) { range.value = v; }      // the slider clamps and snaps to its step
      box.value = range.value;
      range.setAttribute("aria-valuetext", label + " = " + range.value);
      onChange(Number(range.value));
    }
    range.setAttribute("aria-valuetext", label + " = " + range.value);
    range.addEventListener("input", function () { set(Number(range.value), range); });
    box.addEventListener("change", function () { set(Number(box.value), box); });
    return { row: row, range: range, box: box, get: function () { return Number(range.value); },
             set: function (v) { set(v, null); } };
  }

  function button(text, onClick, cls) {
    var b = el("button", { type: "button", class: cls || "", text: text });
    b.addEventListener("click", onClick);
    return b;
  }

  function fmt(v, digits) { return Number(v).toFixed(digits === undefined ? 3 : digits); }

  // --------------------------------------------------------------- charts
  function niceStep(span, count) {
    var raw = span / Math.max(count, 1), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }

  /** Draw lines into a canvas: series [{points: [[x, y]], colour, dash, marks}],
   *  with axes, ticks and labels; sized to the canvas's width on the page. */
  function lineChart(canvas, opts) {
    var ratio = window.devicePixelRatio || 1, cssW = canvas.clientWidth || 320;
    var cssH = Math.round(cssW * (opts.aspect || 0.62));
    canvas.width = Math.round(cssW * ratio); canvas.height = Math.round(cssH * ratio);
    canvas.style.height = cssH + "px";
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    var pad = { l: 52, r: 10, t: 10, b: 38 };
    var xs = [], ys = [];
    opts.series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    var xmin = opts.xmin !== undefined ? opts.xmin : Math.min.apply(null, xs.concat([0]));
    var xmax = opts.xmax !== undefined ? opts.xmax : Math.max.apply(null, xs.concat([1]));
    var ymin = opts.ymin !== undefined ? opts.ymin : Math.min.apply(null, ys.length ? ys : [0]);
    var ymax = opts.ymax !== undefined ? opts.ymax : Math.max.apply(null, ys.length ? ys : [1]);
    if (ymax - ymin < 1e-12) { ymax = ymin + 1; }
    if (xmax - xmin < 1e-12) { xmax = xmin + 1; }
    var W = cssW - pad.l - pad.r, H = cssH - pad.t - pad.b;
    function px(x) { return pad.l + (x - xmin) / (xmax - xmin) * W; }
    function py(y) { return pad.t + (1 - (y - ymin) / (ymax - ymin)) * H; }
    g.font = "12px sans-serif"; g.fillStyle = "#333"; g.strokeStyle = "#ddd"; g.lineWidth = 1;
    var ystep = niceStep(ymax - ymin, H / 40), xstep = niceStep(xmax - xmin, W / 70);
    if (opts.integerX) { xstep = Math.max(1, Math.round(xstep)); }
    g.textAlign = "right"; g.textBaseline = "middle";
    for (var yv = Math.ceil(ymin / ystep) * ystep; yv <= ymax + 1e-9; yv += ystep) {
      g.beginPath(); g.moveTo(pad.l, py(yv)); g.lineTo(pad.l + W, py(yv)); g.stroke();
      g.fillText(opts.yformat ? opts.yformat(yv) : Number(yv.toPrecision(6)).toString(), pad.l - 4, py(yv));
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (var xv = Math.ceil(xmin / xstep) * xstep; xv <= xmax + 1e-9; xv += xstep) {
      g.beginPath(); g.moveTo(px(xv), pad.t); g.lineTo(px(xv), pad.t + H); g.stroke();
      g.fillText(Number(xv.toPrecision(6)).toString(), px(xv), pad.t + H + 4);
    }
    g.strokeStyle = "#555"; g.strokeRect(pad.l, pad.t, W, H);
    g.fillText(opts.xlabel || "", pad.l + W / 2, pad.t + H + 20);
    g.save(); g.translate(12, pad.t + H / 2); g.rotate(-Math.PI / 2); g.fillText(opts.ylabel || "", 0, -6); g.restore();
    opts.series.forEach(function (s) {
      g.strokeStyle = s.colour; g.lineWidth = s.width || 2; g.setLineDash(s.dash || []);
      g.beginPath();
      s.points.forEach(function (p, i) { if (i) { g.lineTo(px(p[0]), py(p[1])); } else { g.moveTo(px(p[0]), py(p[1])); } });
      g.stroke(); g.setLineDash([]);
      (s.marks || []).forEach(function (p) {
        g.fillStyle = s.colour; g.beginPath(); g.arc(px(p[0]), py(p[1]), 5, 0, 2 * Math.PI); g.fill();
        g.strokeStyle = "#000"; g.lineWidth = 1; g.stroke();
      });
    });
  }

  function legend(items) {
    return el("ul", { class: "nndl-legend" }, items.map(function (it) {
      return el("li", {}, [el("span", { class: "nndl-swatch" + (it.dash ? " nndl-dashed" : ""),
                                        style: "border-color:" + it.colour }), it.label]);
    }));
  }

  function redrawOnResize(node, draw) {
    if (typeof ResizeObserver === "function") {
      var last = 0;
      new ResizeObserver(function () {
        if (node.clientWidth !== last) { last = node.clientWidth; draw(); }
      }).observe(node);
    }
    draw();
  }

  // ---------------------------------------------------------- the neuron
  var PRESETS = [
    { label: "quadratic, (w, b) = (0.6, 0.9), \u03b7 = 0.15", w: 0.6, b: 0.9, eta: 0.15, cost: "quadratic" },
    { label: "quadratic, (w, b) = (2, 2), \u03b7 = 0.15", w: 2, b: 2, eta: 0.15, cost: "quadratic" },
    { label: "cross-entropy, (w, b) = (0.6, 0.9), \u03b7 = 0.005", w: 0.6, b: 0.9, eta: 0.005, cost: "cross-entropy" },
    { label: "cross-entropy, (w, b) = (2, 2), \u03b7 = 0.005", w: 2, b: 2, eta: 0.005, cost: "cross-entropy" }
  ];

  /** One sigmoid neuron, input 1, desired output 0, learning by gradient
   *  descent: the chapter's learning-slowdown figure. */
  function mountNeuron(root, options) {
    options = options || {};
    var x = 1.0, y = 0.0, state = { epoch: 0, run: null, timer: null, last: 0, carry: 0 };
    root.classList.add("nndl-widget", "nndl-neuron");
    var presets = el("div", { class: "nndl-presets", role: "group", "aria-label": "the chapter's four runs" },
      PRESETS.map(function (p, i) {
        var b = button(p.label, function () { applyPreset(i); }, "nndl-preset");
        b.dataset.preset = String(i);
        return b;
      }));
    var wS = slider("starting weight w", { min: -4, max: 4, step: 0.01, value: 0.6 }, reset);
    var bS = slider("starting bias b", { min: -4, max: 4, step: 0.01, value: 0.9 }, reset);
    var etaS = slider("learning rate \u03b7", { min: 0.001, max: 1, step: 0.001, value: 0.15 }, reset);
    var epochsS = slider("epochs", { min: 10, max: 1000, step: 10, value: options.epochs || 300 }, reset);
    var costId = nextId("cost");
    var costSel = el("select", { id: costId }, [el("option", { value: "quadratic", text: "quadratic" }),
                                               el("option", { value: "cross-entropy", text: "cross-entropy" })]);
    costSel.addEventListener("change", reset);
    var speedId = nextId("speed");
    var speedSel = el("select", { id: speedId }, [30, 100, 1000].map(function (v) {
      return el("option", { value: String(v), text: v + " epochs / s" });
    }));
    speedSel.value = "100";
    var runB = button("Run", run, "nndl-run"), pauseB = button("Pause", pause, "nndl-pause"),
        resetB = button("Reset", reset, "nndl-reset");
    var readout = el("p", { class: "nndl-readout", "aria-live": "polite" });
    var outC = el("canvas", { class: "nndl-chart", role: "img", "aria-label": "output against epoch" });
    var costC = el("canvas", { class: "nndl-chart", role: "img", "aria-label": "cost against epoch" });
    root.appendChild(el("p", { class: "nndl-note", text: "One neuron with one input x = 1 and desired output y = 0: " +
      "output a = \u03c3(w x + b). Each epoch takes one gradient-descent step on the cost." }));
    root.appendChild(presets);
    root.appendChild(el("div", { class: "nndl-controls" }, [wS.row, bS.row, etaS.row, epochsS.row,
      el("div", { class: "nndl-slider" }, [el("label", { for: costId, text: "cost" }), costSel]),
      el("div", { class: "nndl-slider" }, [el("label", { for: speedId, text: "speed" }), speedSel])]));
    root.appendChild(el("div", { class: "nndl-buttons" }, [runB, pauseB, resetB]));
    root.appendChild(readout);
    root.appendChild(el("div", { class: "nndl-charts" }, [
      el("figure", {}, [outC, el("figcaption", { text: "output a per epoch" })]),
      el("figure", {}, [costC, el("figcaption", { text: "cost C per epoch" })])]));

    function params() {
      return { w: wS.get(), b: bS.get(), eta: etaS.get(), cost: costSel.value, epochs: epochsS.get() };
    }
    function applyPreset(i) {
      var p = PRESETS[i];
      pause();
      costSel.value = p.cost;
      wS.set(p.w); bS.set(p.b); etaS.set(p.eta);
      reset();
    }
    function reset() {
      pause();
      var p = params();
      state.run = learn(p.w, p.b, p.cost, p.eta, p.epochs, x, y);
      state.epoch = 0;
      show();
    }
    function run() {
      if (state.epoch >= state.run.costs.length - 1) { state.epoch = 0; }
      if (state.timer) { return; }
      state.last = performance.now(); state.carry = 0;
      root.dataset.running = "true";
      state.timer = requestAnimationFrame(tick);
    }
    function tick(now) {
      state.carry += (now - state.last) / 1000 * Number(speedSel.value);
      state.last = now;
      var steps = Math.floor(state.carry);
      state.carry -= steps;
      state.epoch = Math.min(state.epoch + steps, state.run.costs.length - 1);
      show();
      if (state.epoch >= state.run.costs.length - 1) { state.timer = null; root.dataset.running = "false"; return; }
      state.timer = requestAnimationFrame(tick);
    }
    function pause() {
      if (state.timer) { cancelAnimationFrame(state.timer); }
      state.timer = null;
      root.dataset.running = "false";
    }
    function show() {
      var r = state.run, k = state.epoch;
      readout.textContent = "epoch " + k + ": w = " + fmt(r.w[k]) + ", b = " + fmt(r.b[k]) +
        ", output a = " + fmt(r.outputs[k], 4) + ", cost C = " + fmt(r.costs[k], 4);
      root.dataset.epoch = String(k);
      root.dataset.output = String(r.outputs[k]);
      root.dataset.cost = String(r.costs[k]);
      draw();
    }
    function draw() {
      var r = state.run, k = state.epoch, n = r.costs.length - 1;
      var pts = function (vals) { return vals.slice(0, k + 1).map(function (v, i) { return [i, v]; }); };
      var now = function (vals) { return [[k, vals[k]]]; };
      lineChart(outC, { series: [{ points: pts(r.outputs), colour: "#1f77b4", marks: now(r.outputs) }],
                        xmin: 0, xmax: n, ymin: 0, ymax: 1, xlabel: "epoch", ylabel: "output", integerX: true });
      lineChart(costC, { series: [{ points: pts(r.costs), colour: "#d62728", marks: now(r.costs) }],
                         xmin: 0, xmax: n, ymin: 0, integerX: true,
                         ymax: Math.max.apply(null, r.costs) * 1.05, xlabel: "epoch", ylabel: "cost" });
    }
    reset();
    redrawOnResize(root, function () { if (state.run) { draw(); } });
    return { run: run, pause: pause, reset: reset, preset: applyPreset, state: state };
  }

  // ------------------------------------------------------------- softmax
  /** Sliders for z_1..z_4 and the constant c; the activations a_j of
   *  a_j = e^{c z_j} / sum_k e^{c z_k} (equation (78) has c = 1). */
  function mountSoftmax(root, options) {
    options = options || {};
    var start = options.z || [2.5, -1, 3.2, 0.5];
    root.classList.add("nndl-widget", "nndl-softmax");
    var rows = [], bars = [], values = [];
    var table = el("div", { class: "nndl-softmax-rows" });
    start.forEach(function (z0, j) {
      var s = slider("z" + (j + 1), { min: -5, max: 5, step: 0.1, value: z0 }, update);
      s.range.dataset.j = String(j);
      var bar = el("div", { class: "nndl-bar-fill" });
      var val = el("output", { class: "nndl-value", "aria-live": "polite" });
      rows.push(s); bars.push(bar); values.push(val);
      table.appendChild(el("div", { class: "nndl-softmax-row" }, [s.row,
        el("div", { class: "nndl-bar", "aria-hidden": "true" }, [bar]), val]));
    });
    var cS = slider("constant c", { min: 0.1, max: 20, step: 0.1, value: 1 }, update);
    var sumOut = el("p", { class: "nndl-readout" });
    root.appendChild(el("p", { class: "nndl-note", text: "Four output neurons with weighted inputs z_j; " +
      "a_j = e^(c z_j) / \u03a3_k e^(c z_k). With c = 1 this is the softmax; as c grows the largest z_j takes everything." }));
    root.appendChild(table);
    root.appendChild(cS.row);
    root.appendChild(sumOut);
    function update() {
      var z = rows.map(function (s) { return s.get(); }), c = cS.get(), a = softmax(z, c);
      a.forEach(function (v, j) {
        bars[j].style.width = (100 * v).toFixed(2) + "%";
        values[j].textContent = "a" + (j + 1) + " = " + fmt(v, 4);
      });
      sumOut.textContent = "c = " + c + ";  a1 + a2 + a3 + a4 = " + fmt(a.reduce(function (p, q) { return p + q; }, 0), 4);
      root.dataset.z = JSON.stringify(z);
      root.dataset.c = String(c);
      root.dataset.a = JSON.stringify(a);
    }
    update();
    return { update: update, sliders: rows, c: cS };
  }

  // -------------------------------------------------------- draw a digit
  var CANVAS = 280;

  /** Draw a digit with mouse, touch or pen; see it as the network sees it
   *  (nndl predict's preprocessing) and the network's probabilities. */
  function mountDraw(root, model) {
    root.classList.add("nndl-widget", "nndl-draw");
    var pad = el("canvas", { class: "nndl-pad", width: CANVAS, height: CANVAS, role: "img",
                             "aria-label": "drawing area: draw a digit with the mouse, a finger or a pen" });
    var seen = el("canvas", { class: "nndl-seen", width: 28, height: 28, role: "img",
                              "aria-label": "the 28 by 28 image the network sees" });
    var clearB = button("Clear", clear, "nndl-clear");
    var status = el("p", { class: "nndl-readout", "aria-live": "polite", text: "Draw a digit." });
    var barList = el("ol", { class: "nndl-probs", start: "0" });
    var barFills = [], barText = [];
    for (var d = 0; d < 10; d++) {
      var fill = el("span", { class: "nndl-bar-fill" }), text = el("span", { class: "nndl-prob-text" });
      barFills.push(fill); barText.push(text);
      barList.appendChild(el("li", {}, [el("span", { class: "nndl-digit", text: String(d) }),
        el("span", { class: "nndl-bar" }, [fill]), text]));
    }
    root.appendChild(el("div", { class: "nndl-draw-row" }, [
      el("figure", {}, [pad, el("figcaption", { text: "your drawing" })]),
      el("figure", {}, [seen, el("figcaption", { text: "what the network sees (28 \u00d7 28)" })]),
      model ? el("figure", { class: "nndl-probs-fig" }, [barList, el("figcaption", { text: "probabilities" })])
            : el("p", { class: "nndl-note", text: "No model on this page: run nndl playground --model MODEL.json to see predictions." })]));
    root.appendChild(el("div", { class: "nndl-buttons" }, [clearB]));
    root.appendChild(status);

    var g = pad.getContext("2d", { willReadFrequently: true }), drawing = false, last = null, pending = false;
    function clear() {
      g.fillStyle = "#fff"; g.fillRect(0, 0, CANVAS, CANVAS);
      seen.getContext("2d").clearRect(0, 0, 28, 28);
      root.dataset.digit = ""; root.dataset.pixels = "";
      status.textContent = "Draw a digit.";
      barFills.forEach(function (f) { f.style.width = "0"; });
      barText.forEach(function (t) { t.textContent = ""; });
    }
    function point(ev) {
      var r = pad.getBoundingClientRect();
      return [(ev.clientX - r.left) * CANVAS / r.width, (ev.clientY - r.top) * CANVAS / r.height];
    }
    function stroke(p) {
      g.strokeStyle = "#000"; g.fillStyle = "#000"; g.lineWidth = 18; g.lineCap = "round"; g.lineJoin = "round";
      g.beginPath();
      if (last) { g.moveTo(last[0], last[1]); g.lineTo(p[0], p[1]); g.stroke(); }
      else { g.arc(p[0], p[1], 9, 0, 2 * Math.PI); g.fill(); }
      last = p;
      if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; update(); }); }
    }
    pad.addEventListener("pointerdown", function (ev) {
      ev.preventDefault(); drawing = true; last = null;
      if (pad.setPointerCapture) { try { pad.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic */ } }
      stroke(point(ev));
    });
    pad.addEventListener("pointermove", function (ev) { if (drawing) { ev.preventDefault(); stroke(point(ev)); } });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      pad.addEventListener(t, function () { if (drawing) { drawing = false; last = null; update(); } });
    });
    function update() {
      var gray = grayFromRGBA(g.getImageData(0, 0, CANVAS, CANVAS).data);
      var x = preprocess(gray, CANVAS, CANVAS);
      if (!x) { clear(); return; }
      showSeen(seen, x);
      root.dataset.pixels = JSON.stringify(Array.from(x));
      if (!model) { status.textContent = "Preprocessed as nndl predict does it."; return; }
      var p = predict(model, x);
      p.probabilities.forEach(function (v, k) {
        barFills[k].style.width = (100 * Math.max(v, 0)).toFixed(1) + "%";
        barText[k].textContent = (100 * v).toFixed(1) + "%";
        barFills[k].parentNode.parentNode.classList.toggle("nndl-best", k === p.digit);
      });
      status.textContent = "The network says " + p.digit + " (" + (100 * p.probabilities[p.digit]).toFixed(1) + "%).";
      root.dataset.digit = String(p.digit);
      root.dataset.probabilities = JSON.stringify(p.probabilities);
    }
    clear();
    return { clear: clear, update: update, canvas: pad };
  }

  /** Paint 784 inputs in [0, 1] as MNIST shows them: white ink on black. */
  function showSeen(canvas, x) {
    var g = canvas.getContext("2d"), img = g.createImageData(28, 28);
    for (var i = 0; i < 784; i++) {
      var v = Math.round(255 * Math.min(1, x[i] * 256 / 255));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    g.putImageData(img, 0, 0);
  }

  // ------------------------------------------------------------- weights
  /** The first layer's weights, one 28x28 image per hidden neuron: red for
   *  positive weights, blue for negative, each neuron scaled to its largest |w|. */
  function mountWeights(root, model, options) {
    options = options || {};
    root.classList.add("nndl-widget", "nndl-weights");
    var n = model.sizes[1], W = model.layers[0].w;
    var countId = nextId("count");
    var choices = [16, 64, 256, n].filter(function (v, i, all) { return v <= n && all.indexOf(v) === i; });
    var sel = el("select", { id: countId }, choices.map(function (v) {
      return el("option", { value: String(v), text: v === n ? "all " + n : String(v) });
    }));
    sel.value = String(choices.indexOf(64) >= 0 ? 64 : choices[choices.length - 1]);
    var grid = el("canvas", { class: "nndl-grid", role: "img" });
    root.appendChild(el("p", { class: "nndl-note", text: "Each square is one neuron of the first hidden layer: the " +
      "784 weights from the pixels, red where a bright pixel excites it, blue where it inhibits it." }));
    root.appendChild(el("div", { class: "nndl-slider" }, [el("label", { for: countId, text: "neurons shown" }), sel]));
    root.appendChild(grid);
    function draw() {
      var count = Number(sel.value), cols = Math.min(count, count <= 100 ? 10 : 16), rowsN = Math.ceil(count / cols), cell = 30;
      grid.width = cols * cell; grid.height = rowsN * cell;
      grid.setAttribute("aria-label", "first-layer weights of " + count + " of " + n + " hidden neurons");
      var g = grid.getContext("2d"), img = g.createImageData(grid.width, grid.height);
      for (var u = 0; u < count; u++) {
        var peak = 1e-12, base = u * 784, ox = (u % cols) * cell + 1, oy = Math.floor(u / cols) * cell + 1;
        for (var i = 0; i < 784; i++) { peak = Math.max(peak, Math.abs(W[base + i])); }
        for (i = 0; i < 784; i++) {
          var v = W[base + i] / peak, p = 4 * ((oy + Math.floor(i / 28)) * grid.width + ox + (i % 28));
          img.data[p] = v > 0 ? 255 : Math.round(255 * (1 + v));
          img.data[p + 1] = Math.round(255 * (1 - Math.abs(v)));
          img.data[p + 2] = v < 0 ? 255 : Math.round(255 * (1 - v));
          img.data[p + 3] = 255;
        }
      }
      g.putImageData(img, 0, 0);
      root.dataset.shown = String(count);
    }
    sel.addEventListener("change", draw);
    draw();
    return { draw: draw };
  }

  // -------------------------------------------------------------- curves
  var COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

  /** Learning curves of training runs (as nndl.plot.run_curves gives them):
   *  accuracy and cost per epoch, evaluation solid, training dashed, the
   *  best epoch marked, the test accuracy in the legend. */
  function mountCurves(root, runs) {
    root.classList.add("nndl-widget", "nndl-curves");
    var panels = [["accuracy", "accuracy (%)", 100], ["cost", "cost", 1]].filter(function (q) {
      return runs.some(function (r) { return r.curves["evaluation_" + q[0]] || r.curves["training_" + q[0]]; });
    });
    var canvases = panels.map(function (q) {
      return el("canvas", { class: "nndl-chart", role: "img", "aria-label": q[0] + " per epoch of " + runs.length + " runs" });
    });
    root.appendChild(el("div", { class: "nndl-charts" }, canvases.map(function (c, i) {
      return el("figure", {}, [c, el("figcaption", { text: panels[i][0] + " per epoch" })]);
    })));
    var items = runs.map(function (r, k) {
      var t = r.test_accuracy === null || r.test_accuracy === undefined ? "" : " (test " + (100 * r.test_accuracy).toFixed(2) + "%)";
      return { colour: COLOURS[k % COLOURS.length], label: r.label + t };
    });
    items.push({ colour: "#000", label: "solid: " + runs.map(function (r) { return r.evaluated_on; })
      .filter(function (v, i, a) { return a.indexOf(v) === i; }).join(" / ") + "; dashed: training; dot: best epoch" });
    root.appendChild(legend(items));
    function draw() {
      panels.forEach(function (q, i) {
        var series = [];
        runs.forEach(function (r, k) {
          var colour = COLOURS[k % COLOURS.length];
          [["evaluation", []], ["training", [6, 4]]].forEach(function (split) {
            var pts = r.curves[split[0] + "_" + q[0]];
            if (!pts) { return; }
            var scaled = pts.map(function (p) { return [p[0], q[2] * p[1]]; });
            var marks = split[0] === "evaluation" ? scaled.filter(function (p) { return p[0] === r.best_epoch; }) : [];
            series.push({ points: scaled, colour: colour, dash: split[1], marks: marks });
          });
        });
        lineChart(canvases[i], { series: series, xlabel: "epoch", ylabel: q[1], xmin: 0, integerX: true });
      });
    }
    redrawOnResize(root, draw);
    return { draw: draw };
  }

  // ---------------------------------------------------------------- page
  /** Mount every widget of the page from the JSON in #nndl-data. */
  function mountPage(doc) {
    doc = doc || document;
    var data = JSON.parse(doc.getElementById("nndl-data").textContent);
    var model = data.model ? decodeModel(data.model) : null;
    var mounted = { model: model };
    doc.querySelectorAll("[data-widget]").forEach(function (node) {
      var kind = node.dataset.widget;
      if (kind === "neuron") { mounted.neuron = mountNeuron(node); }
      else if (kind === "softmax") { mounted.softmax = mountSoftmax(node); }
      else if (kind === "draw") { mounted.draw = mountDraw(node, model); }
      else if (kind === "weights" && model) { mounted.weights = mountWeights(node, model); }
      else if (kind === "curves" && data.runs && data.runs.length) { mounted.curves = mountCurves(node, data.runs); }
    });
    doc.body.dataset.ready = "true";
    return mounted;
  }

  return {
    sigmoid: sigmoid, COSTS: COSTS, learn: learn, softmax: softmax, PRESETS: PRESETS,
    grayFromRGBA: grayFromRGBA, preprocess: preprocess, lanczosResize: lanczosResize,
    decodeArray: decodeArray, decodeModel: decodeModel, forward: forward, predict: predict,
    lineChart: lineChart,
    mountNeuron: mountNeuron, mountSoftmax: mountSoftmax, mountDraw: mountDraw,
    mountWeights: mountWeights, mountCurves: mountCurves, mountPage: mountPage
  };
})();
