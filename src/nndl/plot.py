"""Learning curves of training runs: ``nndl plot`` and ``nndl train --plot``.

A run is the metrics document ``nndl train --metrics-out`` writes (README,
"Metrics file"): per epoch whichever of ``training_cost``,
``training_accuracy``, ``evaluation_cost`` and ``evaluation_accuracy`` were
monitored, plus ``test_accuracy`` and ``best_epoch``.  ``plot_runs`` draws
them the way the chapter's graphs do -- the quantity against the epoch --
one panel per quantity asked for (accuracy, cost), every run in its own
colour, validation (or test, with ``--evaluate-on test``) solid and training
dashed, the best epoch starred, and the test accuracy in the legend.

``load_run`` and ``run_curves`` are shared with the playground page, which
draws the same curves in the browser.
"""

import io
import json
import os
from pathlib import Path

from .errors import ConfigError

QUANTITIES = ("accuracy", "cost")
PLOT_SUFFIXES = (".png", ".svg")
SERIES = ("training_accuracy", "evaluation_accuracy", "training_cost", "evaluation_cost")
MAX_METRICS_BYTES = 200 * 2**20     # a metrics file of 10,000 epochs is a few MB


# ------------------------------------------------------------ input checks
def parse_what(text):
    """Parse 'accuracy,cost' into ('accuracy', 'cost'), refusing anything else."""
    items = tuple(s.strip() for s in str(text).split(",") if s.strip())
    bad = [s for s in items if s not in QUANTITIES]
    if not items or bad:
        raise ConfigError(f"--what takes a comma-separated list of {', '.join(QUANTITIES)}, "
                          f"got {text!r}")
    return tuple(dict.fromkeys(items))


def check_plot_path(path, what="--out"):
    """Refuse, before any work, a plot path that cannot be written.

    The name must end in .png or .svg (the two formats drawn), the path must
    pass ``persistence.check_output_path`` (a writable folder, not a folder,
    device, FIFO or socket itself; ``what`` names the flag in the message),
    and matplotlib must be installed -- so that ``nndl train --plot`` fails
    in a second, not after the training it would otherwise lose.  Returns
    the path as a ``Path``.
    """
    from .persistence import check_output_path
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"{what} {path}: a plot must be a .png or .svg file")
    check_output_path(path, what)
    pyplot()
    return path


def pyplot():
    """Return matplotlib's pyplot on the non-interactive Agg backend, or
    raise ConfigError saying how to install it (every nndl figure is drawn
    through this)."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'nndl[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def load_run(source):
    """Return the metrics document at ``source`` (a path), checked.

    Raises ConfigError naming the file and what is wrong with it: missing,
    empty, not JSON, not an nndl training metrics file (for instance a
    ``nndl reproduce`` result), or with no epoch measured.
    """
    name = os.fspath(source)
    try:
        size = os.stat(name).st_size
        if size > MAX_METRICS_BYTES:
            raise ConfigError(f"{name}: file is {size} bytes, too large for a metrics file")
        with open(name, "rb") as f:
            data = f.read()
    except ConfigError:
        raise
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a folder, not a metrics file") from None
    except OSError as e:
        raise ConfigError(f"{name}: cannot read it ({e.strerror or e})") from None
    if not data.strip():
        raise ConfigError(f"{name}: the file is empty, not an nndl metrics file")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"{name}: not JSON, so not an nndl metrics file ({str(e)[:80]})") from None
    return check_run(doc, name)


def check_run(doc, name="metrics"):
    """Return ``doc`` if it is a training run's metrics document, else raise
    ConfigError saying why (``name`` says which file)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{name}: not an nndl metrics file (a JSON {type(doc).__name__}, "
                          f"not an object)")
    if "claims" in doc and "series" in doc:
        raise ConfigError(f"{name}: an 'nndl reproduce' result, not the metrics of a training "
                          f"run (see 'nndl report' for those)")
    epochs = doc.get("epochs")
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise ConfigError(f"{name}: not an nndl metrics file (no 'epochs' list; write one "
                          f"with 'nndl train --metrics-out FILE.json')")
    if not epochs:
        raise ConfigError(f"{name}: no epochs recorded (the run stopped before its first epoch)")
    if not any(_number(e.get(k)) is not None for e in epochs for k in SERIES):
        raise ConfigError(f"{name}: no accuracy or cost was measured in any epoch (train with "
                          f"--monitor)")
    return doc


def _number(value):
    """``value`` as a float if it is a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


# ----------------------------------------------------------------- curves
def run_curves(doc):
    """Return the curves of one run as plain lists, for drawing.

    ``{"training_accuracy": [[epoch, value], ...], ...}`` for each of the
    four per-epoch quantities that was measured (epochs counted from 1, as
    ``nndl train`` prints them; accuracies as fractions), plus
    ``test_accuracy`` (or None), ``best_epoch`` (1-based, or None) and
    ``evaluated_on`` ('validation' or 'test').
    """
    curves = {}
    for key in SERIES:
        points = [[int(e.get("epoch", i)) + 1, _number(e.get(key))]
                  for i, e in enumerate(doc["epochs"])]
        points = [p for p in points if p[1] is not None]
        if points:
            curves[key] = points
    best = doc.get("best_epoch")
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    return {"curves": curves, "test_accuracy": _number(doc.get("test_accuracy")),
            "best_epoch": int(best) + 1 if _number(best) is not None else None,
            "evaluated_on": "test" if config.get("evaluate_on") == "test" else "validation"}


def run_label(label, run):
    """The legend's text for a run: its label and, if measured, its test accuracy."""
    test = run["test_accuracy"]
    return f"{label} (test {100 * test:.2f}%)" if test is not None else label


def default_labels(sources):
    """A label per run: a file's name without .json, else 'run K'."""
    labels = []
    for k, s in enumerate(sources, 1):
        labels.append(Path(s).stem if isinstance(s, (str, os.PathLike)) else f"run {k}")
    return labels


# ----------------------------------------------------------------- drawing
def plot_runs(metrics_docs_or_paths, out, what=QUANTITIES, labels=None):
    """Draw the learning curves of one or more runs into ``out`` (.png or .svg).

    ``metrics_docs_or_paths`` are metrics documents (dicts, as ``nndl train``
    holds them at the end of a run) or paths to metrics files; ``what`` picks
    the panels ('accuracy', 'cost'); ``labels`` names the runs in the legend
    (default: the file names, or 'run K').  Everything is checked before
    anything is drawn, and the file is replaced atomically.  Returns ``out``
    as a Path.
    """
    out = check_plot_path(out)
    what = parse_what(",".join(what) if not isinstance(what, str) else what)
    sources = list(metrics_docs_or_paths)
    if not sources:
        raise ConfigError("no metrics given to plot")
    labels = list(labels) if labels is not None else default_labels(sources)
    if len(labels) != len(sources):
        raise ConfigError(f"{len(labels)} labels given for {len(sources)} runs")
    runs = [run_curves(check_run(s, f"run {k}") if isinstance(s, dict) else load_run(s))
            for k, s in enumerate(sources, 1)]
    panels = [q for q in what if any(k.endswith(q) for r in runs for k in r["curves"])]
    if not panels:
        raise ConfigError(f"none of the runs measured {' or '.join(what)} per epoch")
    data = _draw(runs, labels, panels, out.suffix.lower()[1:])
    from .outputs import atomic_write_bytes
    atomic_write_bytes(out, data)
    return out


def _draw(runs, labels, panels, fmt):
    """Return the figure's bytes in ``fmt`` ('png' or 'svg')."""
    plt = pyplot()
    from matplotlib.lines import Line2D
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), dpi=100,
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, quantity in zip(axes[0], panels):
        for k, run in enumerate(runs):
            _draw_run(ax, run, quantity, colours[k % len(colours)])
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel("accuracy (%)" if quantity == "accuracy" else "cost", fontsize=11)
        ax.set_title(f"{quantity} per epoch", fontsize=12)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=10)
    handles = [Line2D([], [], color=colours[k % len(colours)], linewidth=3,
                      label=run_label(label, run)) for k, (label, run) in enumerate(zip(labels, runs))]
    measured = {k.split("_")[0] for r in runs for k in r["curves"]}
    if "evaluation" in measured:
        evaluated = " / ".join(sorted({r["evaluated_on"] for r in runs}))
        handles.append(Line2D([], [], color="black", label=evaluated))
    if "training" in measured:
        handles.append(Line2D([], [], color="black", linestyle="--", label="training"))
    if any(r["best_epoch"] is not None for r in runs):
        handles.append(Line2D([], [], color="black", marker="*", linestyle="none",
                              markersize=11, label="best epoch"))
    ncol = min(len(handles), 3 if len(panels) == 1 else 5)
    rows = -(-len(handles) // ncol)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.025 + 0.055 * rows, 1, 1))   # the legend below the panels
    buf = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "none"}):     # SVG text stays text: smaller, searchable
        fig.savefig(buf, format=fmt)
    plt.close(fig)
    return buf.getvalue()


def _draw_run(ax, run, quantity, colour):
    """Draw one run's training and evaluation curves of ``quantity``."""
    scale = 100.0 if quantity == "accuracy" else 1.0
    for split, style in (("evaluation", "-"), ("training", "--")):
        points = run["curves"].get(f"{split}_{quantity}")
        if not points:
            continue
        xs, ys = [p[0] for p in points], [scale * p[1] for p in points]
        ax.plot(xs, ys, style, color=colour, linewidth=1.5,
                marker="o" if len(xs) == 1 else None)
        if split == "evaluation" and run["best_epoch"] in xs:
            i = xs.index(run["best_epoch"])
            ax.plot([xs[i]], [ys[i]], "*", color=colour, markersize=14,
                    markeredgecolor="black", markeredgewidth=0.6, zorder=5)


# ------------------------------------------------------------- command line
def add_plot_parser(sub):
    """Register ``nndl plot``."""
    p = sub.add_parser(
        "plot", help="draw the learning curves of training runs (metrics files)",
        description="Draw accuracy and cost per epoch from metrics files written by "
        "'nndl train --metrics-out': training and validation curves where measured, "
        "several runs overlaid, the best epoch starred, the test accuracy in the legend.")
    p.add_argument("runs", metavar="RUN.json", nargs="+", help="metrics files to draw")
    p.add_argument("--out", default="curves.png", metavar="FILE",
                   help="the plot to write, .png or .svg (default: curves.png)")
    p.add_argument("--what", type=_what_argument, default=QUANTITIES, metavar="accuracy,cost",
                   help="the panels to draw (default: accuracy,cost)")
    p.add_argument("--labels", default=None, metavar="A,B,...",
                   help="comma-separated legend labels, one per run (default: the file names)")
    p.set_defaults(handler=cmd_plot)


def _what_argument(text):
    """``parse_what`` for argparse, which shows only an ArgumentTypeError's words."""
    import argparse
    try:
        return parse_what(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--what ")) from None


def cmd_plot(args):
    """Check the output path, read every run, draw them; print where."""
    check_plot_path(args.out)
    labels = None
    if args.labels is not None:
        labels = [s.strip() for s in args.labels.split(",")]
        if len(labels) != len(args.runs):
            raise ConfigError(f"--labels names {len(labels)} runs but {len(args.runs)} "
                              f"metrics files were given")
    docs = [load_run(path) for path in args.runs]
    plot_runs(docs, args.out, what=args.what, labels=labels or default_labels(args.runs))
    print(f"wrote {args.out}")
    return 0
