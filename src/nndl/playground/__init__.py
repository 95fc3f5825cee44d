"""``nndl playground``: one self-contained HTML page of the chapter's
interactive figures, a digit you draw yourself, and your own runs.

The page holds everything it needs -- its JavaScript (``widgets.js``), its
style sheet (``page.css``) and the data -- inline, so it works offline from a
``file://`` address and makes no outside request (its Content-Security-Policy
forbids any).  The widgets:

* the learning-slowdown neuron of "The cross-entropy cost function" (input 1,
  desired output 0; the chapter's four runs as presets);
* softmax (equation (78)) with sliders for z_1..z_4 and the exercise's c;
* draw a digit: the drawing preprocessed exactly as ``nndl predict`` does it
  (``nndl.images.preprocess``, mirrored in JavaScript), the model's
  probabilities updating as you draw;
* the model's first-layer weights as 28x28 images, and the learning curves
  of metrics files (``nndl.plot.run_curves``).

Weights are stored as little-endian float32, base64-encoded, unless that
would make the page larger than about 4 MB (more than ``FLOAT32_LIMIT``
parameters, e.g. [784, 800, 800, 10]); then as float16, half the size, whose
rounding (about 1 part in 2000) moves the probabilities by a fraction of a
percent.  ``--weights`` chooses explicitly.
"""

import base64
import html
import json
import os
import sys
import webbrowser
from importlib import resources
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConfigError

BOOK = "http://neuralnetworksanddeeplearning.com/chap3.html"
PAGE_SUFFIXES = (".html", ".htm")
ENCODINGS = ("auto", "float32", "float16")
FLOAT32_LIMIT = 750_000      # parameters: 4 bytes each, base64 4/3 -> 4 MB
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")


def asset(name):
    """The text of one of the package's page files (widgets.js, page.css)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


# ------------------------------------------------------------ input checks
def check_page_path(path, what="--out"):
    """Refuse, before any work, a page path that cannot be written: it must
    end in .html and pass ``persistence.check_output_path`` (``what`` names
    the flag in the message)."""
    from ..persistence import check_output_path
    path = Path(path)
    if path.suffix.lower() not in PAGE_SUFFIXES:
        raise ConfigError(f"{what} {path}: the page must be an .html file")
    check_output_path(path, what)
    return path


def load_model(path):
    """Load a saved network and refuse one that is not an MNIST digit
    classifier (784 inputs, 10 outputs), in one line."""
    from ..persistence import load
    net = load(path)
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise ConfigError(f"{path}: the network is {net.sizes}, but the playground needs an MNIST "
                          f"digit classifier: 784 inputs (28x28 images) and 10 outputs")
    return net


# --------------------------------------------------------------- encoding
def choose_encoding(net, encoding="auto"):
    """'float32' or 'float16' for this network's weights (see the module docstring)."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"unknown weight encoding {encoding!r}; choose from {', '.join(ENCODINGS)}")
    if encoding != "auto":
        return encoding
    n = sum(w.size + b.size for w, b in zip(net.weights, net.biases))
    return "float32" if n <= FLOAT32_LIMIT else "float16"


def encode_array(a, encoding):
    """Base64 of the array's values as little-endian float32 or float16."""
    dtype = "<f4" if encoding == "float32" else "<f2"
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def model_payload(net, name, encoding="auto"):
    """The page's description of a network: sizes, activations, cost and
    every layer's weights (row-major, rows = neurons) and biases."""
    encoding = choose_encoding(net, encoding)
    return {"name": name, "sizes": list(net.sizes), "activations": [a.name for a in net.activations],
            "cost": net.cost.name, "dtype": np.dtype(net.dtype).name, "encoding": encoding,
            "layers": [{"w": encode_array(w, encoding), "b": encode_array(b.ravel(), encoding)}
                       for w, b in zip(net.weights, net.biases)]}


def runs_payload(paths, labels=None):
    """The learning curves of metrics files, checked and labelled."""
    from ..plot import default_labels, load_run, run_curves
    labels = labels or default_labels(paths)
    return [dict(run_curves(load_run(p)), label=label) for p, label in zip(paths, labels)]


# -------------------------------------------------------------------- page
def section(anchor, title, body, widget, book_anchor=None):
    """One section of the page: heading, a sentence, the widget's element."""
    link = (f" <a href='{BOOK}#{book_anchor}'>The book's section</a>." if book_anchor else "")
    return (f"<section id='{anchor}' aria-labelledby='{anchor}-h'><h2 id='{anchor}-h'>{title}</h2>"
            f"<p>{body}{link}</p><div data-widget='{widget}'></div></section>")


def model_table(payload, test_accuracy=None):
    """A small table describing the model on the page."""
    e = html.escape
    rows = [("file", payload["name"]), ("layers", ", ".join(map(str, payload["sizes"]))),
            ("activations", ", ".join(payload["activations"])), ("cost", payload["cost"]),
            ("weights stored as", f"{payload['encoding']} (the model computes in {payload['dtype']})")]
    if test_accuracy is not None:
        rows.append(("test accuracy", f"{100 * test_accuracy:.2f}%"))
    return ("<table class='nndl-model'>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
                                                   for k, v in rows) + "</table>")


def json_for_script(data):
    """JSON that can sit inside a <script> element: no '<' at all."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def render_page(model=None, runs=()):
    """Return the page's HTML. ``model`` is a ``model_payload`` (or None),
    ``runs`` a list of ``runs_payload`` entries."""
    js, css = asset("widgets.js"), asset("page.css")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ConfigError("widgets.js or page.css contains a closing tag; it cannot be inlined")
    sections = [
        ("neuron", "A neuron that learns slowly, and one that does not",
         "A single sigmoid neuron learns to turn the input 1 into the output 0. From a badly wrong "
         "start the quadratic cost learns slowly at first, because its gradient carries the factor "
         "&sigma;&prime;(z); the cross-entropy's does not. Try the four presets, then your own "
         "starting points.", "neuron", "the_cross-entropy_cost_function"),
        ("softmax", "Softmax",
         "Move the weighted inputs z<sub>j</sub> and watch the activations: they stay positive and "
         "always sum to 1. The constant c scales every z<sub>j</sub>.", "softmax", "softmax"),
        ("draw", "Draw a digit",
         "Draw with the mouse, a finger or a pen. The drawing is cropped, scaled and centred "
         "into 28&times;28 pixels exactly as <code>nndl predict</code> does it.", "draw", None),
    ]
    if model is not None:
        sections.append(("weights", "The model's first layer",
                         "What each hidden neuron of the first layer looks for in an image.",
                         "weights", None))
    if runs:
        sections.append(("curves", "Learning curves",
                         "Accuracy and cost after each epoch of the given runs.", "curves",
                         "overfitting_and_regularization"))
    toc = "".join(f"<li><a href='#{a}'>{t}</a></li>" for a, t, *_ in sections)
    body = "\n".join(section(*s) for s in sections)
    if model is not None:
        test = next((r["test_accuracy"] for r in runs if r["test_accuracy"] is not None), None)
        body = body.replace("<div data-widget='draw'></div>",
                            "<div data-widget='draw'></div>" + model_table(model, test), 1)
    data = json_for_script({"model": model, "runs": list(runs)})
    return "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>nndl playground: chapter 3 of Neural Networks and Deep Learning</title>",
        f"<style>\n{css}</style>", "</head><body>",
        "<header><h1>nndl playground</h1><p>Interactive companions to chapter 3 of Michael "
        f"Nielsen's <a href='{BOOK}'><i>Neural Networks and Deep Learning</i></a>, computed by "
        "nndl's own formulas in your browser.</p>",
        f"<nav aria-label='contents'><ul>{toc}</ul></nav></header>",
        "<noscript><p>The widgets need JavaScript.</p></noscript>",
        f"<main>\n{body}\n</main>",
        f"<footer><p class='nndl-note'>Written by nndl {html.escape(__version__)} "
        "(<code>nndl playground</code>); one file, no outside requests.</p></footer>",
        f"<script type='application/json' id='nndl-data'>{data}</script>",
        f"<script>\n{js}</script>", "<script>NNDL.mountPage(document);</script>",
        "</body></html>"])


def write_page(out, model_path=None, metrics=(), encoding="auto", labels=None, shipped=False):
    """Check everything, then write the page atomically; return (path, payload).
    Without ``model_path``, ``shipped=True`` puts nndl's shipped model on the page."""
    from ..outputs import atomic_write_text
    out = check_page_path(out)
    if encoding not in ENCODINGS:
        raise ConfigError(f"unknown weight encoding {encoding!r}; choose from {', '.join(ENCODINGS)}")
    model = None
    if model_path is not None:
        net = load_model(model_path)
        model = model_payload(net, Path(model_path).name, encoding)
    elif shipped:
        from .. import pretrained
        model = model_payload(pretrained.load(), pretrained.NAME, encoding)
    runs = runs_payload([os.fspath(p) for p in metrics], labels) if metrics else []
    atomic_write_text(out, render_page(model, runs))
    return out, model


# ------------------------------------------------------------ command line
def add_playground_parser(sub):
    """Register ``nndl playground``."""
    p = sub.add_parser(
        "playground", help="write one self-contained HTML page of interactive figures",
        description="Write one HTML file (inline JavaScript and CSS, works offline, no outside "
        "request) with the chapter's learning-slowdown neuron and softmax, a digit you draw "
        "and the model's prediction, the model's first-layer weights and the learning curves "
        "of metrics files.")
    p.add_argument("--model", metavar="MODEL.json", default=None,
                   help="a saved MNIST network (784 inputs, 10 outputs) for draw-a-digit and "
                        "the weights (default: nndl's shipped network)")
    p.add_argument("--metrics", metavar="RUN.json", nargs="+", default=[],
                   help="metrics files of 'nndl train --metrics-out' to draw")
    p.add_argument("--out", default="playground.html", metavar="PAGE.html",
                   help="the page to write (default: playground.html)")
    p.add_argument("--weights", choices=ENCODINGS, default="auto",
                   help="how the page stores the weights: float32, float16 (half the size), "
                        f"or auto: float32 up to {FLOAT32_LIMIT:,} parameters (default)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.set_defaults(handler=cmd_playground)


def cmd_playground(args):
    """Write the page; say what it holds; optionally open it."""
    out, model = write_page(args.out, args.model, args.metrics, args.weights,
                            shipped=args.model is None)
    if args.model is None:
        from .. import pretrained
        print(f"nndl: {pretrained.describe()}", file=sys.stderr, flush=True)
    held = ["neuron", "softmax", "draw a digit"]
    if model:
        held.append(f"model {model['name']} ({model['encoding']} weights)")
    if args.metrics:
        held.append(f"{len(args.metrics)} learning curve{'s' if len(args.metrics) > 1 else ''}")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {', '.join(held)}")
    if args.open:
        webbrowser.open(out.resolve().as_uri())
    return 0
