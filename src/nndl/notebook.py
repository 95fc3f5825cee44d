"""nndl in a Jupyter notebook: live learning curves, one-line epoch logs
and the playground's widgets.

* ``LivePlot`` -- a training callback that redraws accuracy and cost in the
  cell after each epoch (``train``, the book shim's ``SGD`` and
  ``NetworkClassifier.fit`` all take ``callbacks=``); on a terminal it does
  nothing.  A frame is a small SVG document (``nndl.curves``) that takes
  well under a millisecond to build; redraws are throttled so that drawing,
  the final frame that is always drawn included, stays within ``budget``
  (2%) of the training time.
* ``EpochLog`` -- the command line's per-epoch line, shown in one output
  that is rewritten each epoch instead of one line per epoch; ``tail()``
  does the same for anything printed in a ``with`` block (network2's lines).
* ``neuron()``, ``softmax()``, ``draw(net)`` -- the playground's widgets as
  Jupyter widgets (anywidget).  They run the package's own ``widgets.js``
  (the file ``nndl playground`` inlines into its page), byte for byte.

Progress bars: ``nndl.training.ProgressBar`` uses ``tqdm.auto``, a widget in a
notebook and text on a terminal, and is on by default in a notebook.

Everything here needs the ``notebook`` extra (``pip install
'nndl[notebook]'``); without it the first use raises ``MissingExtraError``,
which a notebook shows as that one line.
"""

import contextlib
import importlib
import io
import sys
import time

from .errors import MissingExtraError
from .network import count_correct, mean_cost

EXTRA = "pip install 'nndl[notebook]'"
SERIES = ("training_accuracy", "evaluation_accuracy", "training_cost", "evaluation_cost")


def require(module):
    """Import ``module`` or raise MissingExtraError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"this needs {module.split('.')[0]}, which is not installed: "
                                f"{EXTRA}") from None


def in_notebook():
    """True inside a Jupyter kernel (IPython's ZMQ shell), False elsewhere.
    Free where IPython was not imported already (a kernel always has)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Display:
    """One output area of the cell, replaced in place on each ``show``."""

    def __init__(self):
        self.handle = None

    def show(self, obj):
        from IPython.display import display
        if self.handle is None:
            self.handle = display(obj, display_id=True)
        else:
            self.handle.update(obj)


# ---------------------------------------------------------------- LivePlot
class LivePlot:
    """Redraw the learning curves (accuracy and cost per epoch) in the cell.

    Plots what a ``Monitor`` measured this epoch (training and evaluation
    accuracy and cost, the quantities of the chapter's figures); when
    nothing was measured, it measures the accuracy and cost on the first
    ``measure`` evaluation images (training images without evaluation
    data) itself, for the plot only.  Each frame is an SVG document
    (``nndl.curves``), built in well under a millisecond and drawn by the
    browser.  ``enabled`` defaults to ``in_notebook()``; ``sink`` receives
    each frame's SVG text (default: the cell, replaced in place).
    ``state_dict``/``load_state_dict`` keep the points across a resumed run.
    """

    def __init__(self, what=("accuracy", "cost"), budget=0.02, measure=1000, enabled=None,
                 sink=None):
        self.what = tuple(what)
        self.budget, self.measure = budget, measure
        self.enabled = in_notebook() if enabled is None else enabled
        self.sink = sink
        self.points = {k: [] for k in SERIES}
        self.frames = 0
        self.draw_seconds = 0.0
        self.frame_seconds = 0.0         # the last frame's cost
        self.title = ""
        self._drawn = 0
        if self.enabled:                 # imported now, not while training
            require("matplotlib.ticker")                     # the tick locator
            from . import curves  # noqa: F401

    # -- hooks
    def on_train_begin(self, state):
        """Set up the cell's output for this run."""
        if not self.enabled:
            return
        self.started = time.perf_counter()
        if self.sink is None:
            require("IPython")
            area = _Display()
            self.sink = lambda svg: area.show(_SVG(svg, self.title))

    def on_epoch_end(self, state):
        """Record this epoch's values; redraw if the time budget allows."""
        if not self.enabled:
            return
        record = state.history[-1]
        values = {k: record[k] for k in SERIES if k in record}
        if not values and self.measure:
            values = self._measure(state)
        for k, v in values.items():
            self.points[k].append((record["epoch"] + 1, float(v)))
        self.title = f"epoch {record['epoch'] + 1}/{state.epochs}"
        # redraw only if this frame and the final one keep within the budget
        elapsed = time.perf_counter() - self.started
        if self.draw_seconds + 2 * self.frame_seconds < self.budget * elapsed:
            self.draw()

    def on_train_end(self, state):
        """Always draw the final curves."""
        if self.enabled and self.frames_behind():
            self.draw()

    # -- drawing
    def frames_behind(self):
        return any(self.points.values()) and self._drawn != sum(map(len, self.points.values()))

    def draw(self):
        """Build the curves' SVG and hand it to the sink."""
        from .curves import learning_curves
        start = time.perf_counter()
        self.sink(learning_curves(self.points, self.what, self.title))
        self.frames += 1
        self._drawn = sum(map(len, self.points.values()))
        self.frame_seconds = time.perf_counter() - start
        self.draw_seconds += self.frame_seconds

    def _measure(self, state):
        data = state.evaluation if state.evaluation is not None else state.training
        prefix = "evaluation" if state.evaluation is not None else "training"
        x, y = data.images[:self.measure], data.labels[:self.measure]
        out = {}
        if "accuracy" in self.what:
            out[f"{prefix}_accuracy"] = count_correct(state.network, x, y) / len(x)
        if "cost" in self.what:
            out[f"{prefix}_cost"] = mean_cost(state.network, x, y)
        return out

    def state_dict(self):
        return {"points": {k: [list(p) for p in v] for k, v in self.points.items()}}

    def load_state_dict(self, d):
        self.points = {k: [tuple(p) for p in d["points"].get(k, [])] for k in SERIES}


class _SVG:
    """A frame for IPython's display: the SVG, and its title as text."""

    def __init__(self, svg, title):
        self.svg, self.title = svg, title

    def _repr_svg_(self):
        return self.svg

    def __repr__(self):
        return f"<learning curves, {self.title}>"


# ---------------------------------------------------------------- EpochLog
class EpochLog:
    """The command line's one line per epoch (``nndl train``'s format); in a
    notebook the line is rewritten in place, so a long run leaves one line
    (the last epoch's) instead of hundreds; on a terminal each is printed."""

    def __init__(self, evaluate_on="validation", notebook=None):
        from .callbacks import EpochPrinter
        self.printer = EpochPrinter(evaluate_on)
        self.notebook = in_notebook() if notebook is None else notebook
        self.area = _Display() if self.notebook else None
        self.line, self.legend = None, []

    def on_epoch_end(self, state):
        """Show this epoch's line."""
        if self.area is None:
            self.printer.on_epoch_end(state)
            return
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            self.printer.on_epoch_end(state)
        *legend, self.line = buf.getvalue().strip().splitlines()
        self.legend = self.legend or legend       # the column legend, printed once
        from IPython.display import Pretty
        self.area.show(Pretty("\n".join([*self.legend, self.line])))


# -------------------------------------------------------------------- tail
class _Tail(io.TextIOBase):
    """A stdout that keeps only the last lines, shown in one output area."""

    def __init__(self, lines, area):
        self.keep, self.area = lines, area
        self.lines, self.partial, self.hidden = [], "", 0

    def write(self, text):
        self.partial += text
        *done, self.partial = self.partial.split("\n")
        self.lines.extend(done)
        if len(self.lines) > self.keep:
            self.hidden += len(self.lines) - self.keep
            del self.lines[:-self.keep]
        if done:
            self.show()
        return len(text)

    def show(self):
        from IPython.display import Pretty
        head = [f"[{self.hidden} earlier lines not shown]"] if self.hidden else []
        self.area.show(Pretty("\n".join(head + self.lines + [self.partial]).rstrip()))


@contextlib.contextmanager
def tail(lines=8, notebook=None):
    """In a notebook, show only the last ``lines`` lines printed inside the
    block, in one output rewritten in place (network2's per-epoch lines of a
    400-epoch run stay 8 lines); on a terminal, print everything as usual."""
    if not (in_notebook() if notebook is None else notebook):
        yield
        return
    require("IPython")
    writer = _Tail(lines, _Display())
    with contextlib.redirect_stdout(writer):
        yield writer
    if writer.partial:
        writer.write("\n")


# ------------------------------------------------------------------ widgets
_WIDGET = None
GLUE = """
export default {
  render({ model, el }) {
    el.classList.add("nndl-nb");
    const kind = model.get("kind"), spec = model.get("spec");
    if (kind === "neuron") { NNDL.mountNeuron(el); }
    else if (kind === "softmax") { NNDL.mountSoftmax(el); }
    else if (kind === "draw") { NNDL.mountDraw(el, spec ? NNDL.decodeModel(spec) : null); }
    el.dataset.ready = "true";
  }
};
"""


def widget_esm():
    """The widgets' ES module: the package's ``widgets.js`` exactly as the
    playground page inlines it, followed by anywidget's ``render``."""
    from .playground import asset
    return asset("widgets.js") + GLUE


def widget_css():
    """The page's style sheet, nested under the widget's element (so it
    styles the widget, not the notebook around it)."""
    from .playground import asset
    return ".nndl-nb {\n" + asset("page.css").replace(":root", "&") + "\n}\n"


def widget_class():
    """The anywidget class (built on first use: anywidget is optional)."""
    global _WIDGET
    if _WIDGET is None:
        anywidget = require("anywidget")
        traitlets = require("traitlets")

        class PlaygroundWidget(anywidget.AnyWidget):
            """One of the playground's widgets: kind neuron, softmax or draw."""
            _esm = widget_esm()
            _css = widget_css()
            kind = traitlets.Unicode("neuron").tag(sync=True)
            spec = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)

        _WIDGET = PlaygroundWidget
    return _WIDGET


def neuron():
    """The learning-slowdown neuron of "The cross-entropy cost function"."""
    return widget_class()(kind="neuron")


def softmax():
    """Softmax (equation (78)) with sliders for z_1..z_4 and the constant c."""
    return widget_class()(kind="softmax")


def draw(net=None, name=None):
    """Draw a digit and see ``net``'s probabilities (default: the shipped model).
    ``net`` must be an MNIST classifier (784 inputs, 10 outputs)."""
    from .errors import ConfigError
    from .playground import model_payload
    if net is None:
        from . import pretrained
        net, name = pretrained.load(), pretrained.NAME
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise ConfigError(f"draw() needs an MNIST digit classifier (784 inputs, 10 outputs), "
                          f"not a {net.sizes} network")
    return widget_class()(kind="draw", spec=model_payload(net, name or "network"))


__all__ = ["LivePlot", "EpochLog", "tail", "neuron", "softmax", "draw", "in_notebook", "require",
           "widget_esm"]
