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
  var SIDE = 28, BOX = 20, INK = 0.1, MIN_CONTRAST = 0.03;

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
   *  them; or null when there is no digit (a blank image). */
  function preprocess(gray, height, width) {
    var n = height * width, a = new Float64Array(n), scale = 255.0;
    var lo = Infinity, hi = -Infinity, i, r, c;
    for (i = 0; i < n; i++) { a[i] = gray[i]; lo = Math.min(lo, a[i]); hi = Math.max(hi, a[i]); }
    if (!(n > 0) || hi - lo < MIN_CONTRAST * scale) { return null; }
    for (i = 0; i < n; i++) { a[i] = (a[i] - lo) / (hi - lo); }

    // Polarity from the border (top row, bottom row, left column, right column).
    var border = [];
    for (c = 0; c < width; c++) { border.push(a[c]); }
    for (c = 0; c < width; c++) { border.push(a[(height - 1) * width + c]); }
    for (r = 0; r < height; r++) { border.push(a[r * width]); }
    for (r = 0; r < height; r++) { border.push(a[r * width + width - 1]); }
    var background = median(border), invert = background > 0.5;
    if (invert) { background = 1.0 - background; }
    var peak = 0.0;
    for (i = 0; i < n; i++) {
      var v = invert ? 1.0 - a[i] : a[i];
      a[i] = Math.max(v - background, 0.0);
      peak = Math.max(peak, a[i]);
    }
    if (peak <= 0.0) { return null; }
    for (i = 0; i < n; i++) { a[i] /= peak; }

    // Crop to the ink's bounding box.
    var top = height, bottom = -1, left = width, right = -1;
    for (r = 0; r < height; r++) {
      for (c = 0; c < width; c++) {
        if (a[r * width + c] > INK) {
          top = Math.min(top, r); bottom = Math.max(bottom, r);
          left = Math.min(left, c); right = Math.max(right, c);
        }
      }
    }
    var h = bottom - top + 1, w = right - left + 1, box = new Float32Array(h * w);
    for (r = 0; r < h; r++) {
      for (c = 0; c < w; c++) { box[r * w + c] = a[(top + r) * width + left + c]; }
    }

    // Longer side to BOX pixels, keeping the aspect ratio (Lanczos).
    var s = BOX / Math.max(h, w);
    var nh = Math.max(1, roundHalfEven(h * s)), nw = Math.max(1, roundHalfEven(w * s));
    var small = lanczosResize(box, h, w, nh, nw), digit = new Float64Array(nh * nw), dmax = 0.0;
    for (i = 0; i < nh * nw; i++) {
      digit[i] = Math.min(Math.max(small[i], 0.0), 1.0);
      dmax = Math.max(dmax, digit[i]);
    }
    for (i = 0; i < nh * nw; i++) { digit[i] /= dmax; }

    // Centre of mass to the centre of the field.
    var total = 0.0, my = 0.0, mx = 0.0;
    for (r = 0; r < nh; r++) {
      var rowSum = 0.0;
      for (c = 0; c < nw; c++) { rowSum += digit[r * nw + c]; }
      my += r * rowSum; total += rowSum;
    }
    for (c = 0; c < nw; c++) {
      var colSum = 0.0;
      for (r = 0; r < nh; r++) { colSum += digit[r * nw + c]; }
      mx += c * colSum;
    }
    var cy = my / total, cx = mx / total;
    var y0 = Math.min(Math.max(Math.floor(SIDE / 2 - cy + 0.5), 0), SIDE - nh);
    var x0 = Math.min(Math.max(Math.floor(SIDE / 2 - cx + 0.5), 0), SIDE - nw);
    var field = new Float32Array(SIDE * SIDE);
    for (r = 0; r < nh; r++) {
      for (c = 0; c < nw; c++) {
        field[(y0 + r) * SIDE + x0 + c] = Math.floor(digit[r * nw + c] * 255 + 0.5) / 256;
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
