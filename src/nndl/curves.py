"""Learning curves as a small SVG document: accuracy and cost per epoch, the
quantities of the chapter's overfitting figures
(http://neuralnetworksanddeeplearning.com/chap3.html#overfitting_and_regularization).

``LivePlot`` (nndl.notebook) redraws these curves after every epoch while a
network trains, so a frame must cost next to nothing: building this text
takes well under a millisecond, where a matplotlib figure rendered to PNG
takes 25-50 ms -- a tenth of a second-long run for its final frame alone.
The browser draws the SVG; the tick positions are matplotlib's
(``MaxNLocator``), so the axes read like ``nndl plot``'s figures.
"""

import math
from xml.sax.saxutils import escape

#: (stroke colour, dash pattern) per series: training dashed, evaluation solid
STYLE = {"training": ("#1f77b4", "5,3"), "evaluation": ("#ff7f0e", None)}
WIDTH, HEIGHT = 576, 202                  # pixels: 8 x 2.8 inches at 72 dpi
LEFT, RIGHT, TOP, BOTTOM, GAP = 52, 8, 26, 34, 52


def ticks(lo, hi, bins, integer=False):
    """About ``bins`` round tick values in [lo, hi] (matplotlib's choice)."""
    from matplotlib.ticker import MaxNLocator
    values = MaxNLocator(nbins=bins, integer=integer).tick_values(lo, hi)
    span = hi - lo
    return [float(v) for v in values if lo - 1e-9 * span <= v <= hi + 1e-9 * span]


def labels(values):
    """The tick ``values`` as text, all with the fewest decimals (up to 6)
    that show each of them exactly."""
    for decimals in range(7):
        if all(abs(round(v, decimals) - v) <= 1e-9 * max(1.0, abs(v)) for v in values):
            break
    return [f"{v:.{decimals}f}" for v in values]


def data_range(values):
    """The y-axis range for ``values``: their span plus 5% each side."""
    lo, hi = min(values), max(values)
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.05)
    return lo - pad, hi + pad


def stroke(name):
    """The SVG stroke attributes of series ``name``'s line (see ``STYLE``)."""
    colour, dash = STYLE[name]
    return f'stroke="{colour}" stroke-width="1.5"' + (f' stroke-dasharray="{dash}"' if dash else "")


def panel(quantity, series, box, epochs):
    """The SVG elements of one panel: frame, grid, ticks, curves, legend.

    ``series`` maps a name ("training", "evaluation") to its (epoch, value)
    points; non-finite values are left out; ``box`` is (x, y, width, height)."""
    x0, y0, w, h = box
    finite = {name: [(e, v) for e, v in pts if math.isfinite(v)] for name, pts in series.items()}
    values = [v for pts in finite.values() for _, v in pts]
    xlo, xhi = 1, max(epochs, 2)
    ylo, yhi = data_range(values) if values else (0.0, 1.0)
    px = lambda e: x0 + (e - xlo) / (xhi - xlo) * w           # noqa: E731
    py = lambda v: y0 + h - (v - ylo) / (yhi - ylo) * h       # noqa: E731
    out = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#444"/>']
    marks = ticks(xlo, xhi, 5, integer=True)
    for t, text in zip(marks, labels(marks)):
        out.append(f'<line x1="{px(t):.1f}" y1="{y0}" x2="{px(t):.1f}" y2="{y0 + h}" '
                   f'stroke="#ddd"/><text x="{px(t):.1f}" y="{y0 + h + 13}" '
                   f'text-anchor="middle">{text}</text>')
    marks = ticks(ylo, yhi, 4)
    for t, text in zip(marks, labels(marks)):
        out.append(f'<line x1="{x0}" y1="{py(t):.1f}" x2="{x0 + w}" y2="{py(t):.1f}" '
                   f'stroke="#ddd"/><text x="{x0 - 4}" y="{py(t) + 4:.1f}" '
                   f'text-anchor="end">{text}</text>')
    out.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 + h + 28}" text-anchor="middle">epoch</text>')
    out.append(f'<text transform="translate({x0 - 42},{y0 + h / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(quantity)}</text>')
    shown = [name for name, pts in finite.items() if pts]
    for name in shown:
        coords = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in finite[name])
        out.append(f'<polyline class="{name}" points="{coords}" fill="none" {stroke(name)}/>')
        if len(finite[name]) == 1:                             # one epoch: a dot
            (e, v), = finite[name]
            out.append(f'<circle cx="{px(e):.1f}" cy="{py(v):.1f}" r="2" '
                       f'fill="{STYLE[name][0]}"/>')
    low = quantity == "accuracy"            # the legend where the curves are not
    lx = x0 + w - 92
    for i, name in enumerate(shown):
        ly = (y0 + h - 10 - 14 * (len(shown) - 1 - i)) if low else (y0 + 12 + 14 * i)
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 20}" y2="{ly - 4}" {stroke(name)}/>'
                   f'<text x="{lx + 25}" y="{ly}">{name}</text>')
    return out


def learning_curves(points, quantities=("accuracy", "cost"), title=""):
    """An SVG document (text) with one panel per quantity, its curves the
    ``points[f"{series}_{quantity}"]`` lists of (epoch, value)."""
    n = len(quantities)
    w = (WIDTH - LEFT - RIGHT - GAP * (n - 1)) / n
    h = HEIGHT - TOP - BOTTOM
    epochs = max((e for pts in points.values() for e, _ in pts), default=1)
    body = []
    for i, quantity in enumerate(quantities):
        series = {name: points.get(f"{name}_{quantity}", []) for name in STYLE}
        body += panel(quantity, series, (LEFT + i * (w + GAP), TOP, w, h), epochs)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>'
            f'<text x="{WIDTH / 2}" y="15" text-anchor="middle" font-size="12">{escape(title)}</text>'
            + "".join(body) + "</svg>")
