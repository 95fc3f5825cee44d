"""nndl in Jupyter: the live plot, the epoch log, the widgets (the playground's
own widgets.js, in a real browser) and docs/notebooks/chapter3.ipynb executed
headlessly, its outputs checked."""

import io
import json
import math
import re
import sys
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

import network2
from nndl import notebook
from nndl.errors import MissingExtraError
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.playground import model_payload, render_page
from nndl.sklearn import NetworkClassifier
from nndl.training import Monitor, ProgressBar, train
from test_playground import browser, need_browser  # noqa: F401  (the browser fixture)

NOTEBOOK = Path(__file__).parent.parent / "docs" / "notebooks" / "chapter3.ipynb"


def frames_of(plot):
    """A sink that keeps each frame (SVG text)."""
    plot.sink_frames = []
    plot.sink = plot.sink_frames.append
    return plot


def is_svg(text):
    return ElementTree.fromstring(text).tag == SVG + "svg"


SVG = "{http://www.w3.org/2000/svg}"


def polyline(svg, name):
    """The (x, y) points of the curve ``name`` ("training", "evaluation") in
    each panel of an SVG frame, left to right."""
    return [[tuple(map(float, p.split(","))) for p in line.get("points").split()]
            for line in ElementTree.fromstring(svg).iter(SVG + "polyline")
            if line.get("class") == name]


# ----------------------------------------------------------------- LivePlot
def test_liveplot_draws_the_monitored_curves(tiny_data):
    plot = frames_of(notebook.LivePlot(enabled=True, budget=float("inf")))
    net = Network([4, 8, 3], seed=0)
    state = train(net, tiny_data, 5, 10, SGD(0.5), evaluation=tiny_data,
                  callbacks=[Monitor(training_cost=True, evaluation_accuracy=True), plot])
    assert len(plot.sink_frames) == 5 and all(map(is_svg, plot.sink_frames))
    assert plot.points["evaluation_accuracy"] == [
        (r["epoch"] + 1, r["evaluation_accuracy"]) for r in state.history]
    assert plot.points["training_cost"] == [(r["epoch"] + 1, r["training_cost"]) for r in state.history]
    assert plot.points["training_accuracy"] == []       # not monitored, not measured


def test_liveplot_with_no_budget_draws_only_the_end(tiny_data):
    plot = frames_of(notebook.LivePlot(enabled=True, budget=0))
    train(Network([4, 8, 3], seed=0), tiny_data, 6, 10, SGD(0.5), evaluation=tiny_data,
          callbacks=[Monitor(evaluation_accuracy=True), plot])
    assert len(plot.sink_frames) == 1 and len(plot.points["evaluation_accuracy"]) == 6


def test_liveplot_is_off_on_a_terminal(tiny_data):
    plot = notebook.LivePlot()
    assert not notebook.in_notebook() and not plot.enabled
    train(Network([4, 8, 3], seed=0), tiny_data, 2, 10, SGD(0.5), callbacks=[plot])
    assert plot.frames == 0 and plot.draw_seconds == 0 and not any(plot.points.values())


def test_liveplot_in_network2_sgd_sees_the_books_numbers():
    rng = np.random.default_rng(0)
    x = rng.random((60, 4))
    labels = rng.integers(0, 3, 60)
    training = [(xi.reshape(4, 1), np.eye(3)[l].reshape(3, 1)) for xi, l in zip(x, labels)]
    evaluation = [(xi.reshape(4, 1), int(l)) for xi, l in zip(x, labels)]
    plot = frames_of(notebook.LivePlot(enabled=True, budget=float("inf")))
    net = network2.Network([4, 5, 3], seed=0)
    _, accuracy, _, _ = net.SGD(training, 3, 10, 0.5, evaluation_data=evaluation,
                                monitor_evaluation_accuracy=True, callbacks=[plot])
    assert [round(v * 60) for _, v in plot.points["evaluation_accuracy"]] == accuracy
    assert len(plot.sink_frames) == 3


def test_liveplot_measures_for_itself_in_networkclassifier_fit():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    plot = frames_of(notebook.LivePlot(enabled=True, budget=float("inf"), measure=200))
    clf = NetworkClassifier(epochs=4, random_state=0).fit(X / 16, y, callbacks=[plot])
    accuracies = [v for _, v in plot.points["training_accuracy"]]
    assert len(accuracies) == 4 and len(plot.points["training_cost"]) == 4
    assert accuracies[-1] == pytest.approx(clf.score(X[:200] / 16, y[:200]))
    assert clf.n_iter_ == 4


def test_a_frame_draws_each_curve_through_its_points():
    from nndl.curves import learning_curves
    points = {"training_cost": [(1, 0.9), (2, 0.5), (3, float("nan")), (4, 0.2)],
              "evaluation_accuracy": [(1, 0.5), (2, 0.7), (3, 0.8), (4, 0.9)],
              "training_accuracy": [], "evaluation_cost": []}
    svg = learning_curves(points, ("accuracy", "cost"), "epoch 4/4")
    (accuracy,), (cost,) = polyline(svg, "evaluation"), polyline(svg, "training")
    assert len(accuracy) == 4 and len(cost) == 3          # the NaN left out, not drawn
    xs = [x for x, _ in accuracy]
    assert xs == sorted(xs) and xs[0] < xs[-1]
    assert [y for _, y in accuracy] == sorted((y for _, y in accuracy), reverse=True)  # rising
    assert [y for _, y in cost] == sorted(y for _, y in cost)                        # falling
    steps = [b - a for a, b in zip(xs, xs[1:])]
    assert max(steps) - min(steps) < 0.2                  # epochs evenly spaced
    rise = [(a[1] - b[1]) for a, b in zip(accuracy, accuracy[1:])]
    assert rise[0] == pytest.approx(2 * rise[1], abs=0.2)  # y is linear in the value
    assert "epoch 4/4" in svg and "accuracy" in svg


def test_a_frame_has_round_ticks_inside_the_data_range():
    from nndl.curves import labels, ticks
    assert ticks(0.0, 1.0, 4) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert labels([0.25, 0.5, 0.75]) == ["0.25", "0.50", "0.75"]
    assert labels([6.0, 12.0]) == ["6", "12"]
    assert all(1 <= t <= 30 and t == int(t) for t in ticks(1, 30, 5, integer=True))


def test_a_frame_looks_right_in_a_browser(browser, tmp_path):
    """Chromium draws both curves in their colours, inside the figure."""
    from nndl.curves import STYLE, learning_curves
    points = {"training_cost": [(e, 1 / e) for e in range(1, 31)],
              "evaluation_cost": [(e, 1.2 / e) for e in range(1, 31)],
              "training_accuracy": [(e, 1 - 0.5 / e) for e in range(1, 31)],
              "evaluation_accuracy": [(e, 0.9 - 0.5 / e) for e in range(1, 31)]}
    page = tmp_path / "curves.svg"
    page.write_text(learning_curves(points, ("accuracy", "cost"), "epoch 30/30"))
    browser.get(page.as_uri())
    image = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    pixels = np.asarray(image)[:202, :576].astype(int)
    for colour, _ in STYLE.values():
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        near = np.abs(pixels - rgb).sum(axis=2) < 90
        columns = np.flatnonzero(near.any(axis=0))
        assert near.sum() > 150, colour                           # a curve, not a dot
        assert columns.min() < 150 and columns.max() > 450, colour  # in both panels
    text = browser.find_element("tag name", "svg").text
    assert "epoch 30/30" in text and "accuracy" in text and "cost" in text


def test_liveplot_draws_every_epoch_of_a_short_run_within_its_budget(tiny_data):
    """A frame costs so little that a second-long run is redrawn every epoch."""
    plot = frames_of(notebook.LivePlot(enabled=True))
    train(Network([4, 8, 3], seed=0), tiny_data, 20, 10, SGD(0.5), evaluation=tiny_data,
          callbacks=[Monitor(evaluation_accuracy=True, evaluation_cost=True), plot])
    assert plot.frames >= 2 and plot.draw_seconds > 0
    assert math.isfinite(plot.frame_seconds)


def test_liveplot_state_round_trips():
    plot = notebook.LivePlot(enabled=False)
    plot.points["training_cost"] = [(1, 0.5), (2, 0.25)]
    again = notebook.LivePlot(enabled=False)
    again.load_state_dict(json.loads(json.dumps(plot.state_dict())))
    assert again.points == plot.points


# ------------------------------------------------- epoch lines, progress bars
def test_epochlog_prints_the_command_lines_line_on_a_terminal(tiny_data, capsys):
    train(Network([4, 8, 3], seed=0), tiny_data, 2, 10, SGD(0.5), evaluation=tiny_data,
          callbacks=[Monitor(evaluation_accuracy=True), notebook.EpochLog()])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "each epoch: accuracy on the valid(ation) data"   # the legend, once
    assert len(lines) == 4 and lines[3].startswith("epoch 2/2  valid ")


def test_tail_keeps_the_last_lines_in_one_output(capsys):
    class Area:
        shown = []

        def show(self, obj):
            self.shown.append(obj.data)

    writer = notebook._Tail(3, Area())
    for k in range(20):
        print(f"line {k}", file=writer)
    assert writer.lines == ["line 17", "line 18", "line 19"] and writer.hidden == 17
    assert Area.shown[-1] == "[17 earlier lines not shown]\nline 17\nline 18\nline 19"
    with notebook.tail(3):                      # on a terminal: everything, as usual
        for k in range(5):
            print(k)
    assert capsys.readouterr().out.split() == ["0", "1", "2", "3", "4"]


def test_progress_bar_is_text_on_a_terminal(tiny_data, capsys):
    train(Network([4, 8, 3], seed=0), tiny_data, 2, 10, SGD(0.5),
          callbacks=[ProgressBar(enabled=True, update_every=1)])
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "batch" in err


# ------------------------------------------------------------------ widgets
def test_the_widgets_run_the_very_same_widgets_js_as_the_page():
    on_disk = resources.files("nndl.playground").joinpath("widgets.js").read_bytes()
    esm = notebook.widget_esm().encode("utf-8")
    assert esm.startswith(on_disk) and esm[len(on_disk):].lstrip().startswith(b"export default")
    assert notebook.widget_class()._esm.encode("utf-8") == esm
    assert on_disk.decode("utf-8") in render_page()          # the page inlines the same bytes


def test_draw_refuses_a_network_that_is_not_a_digit_classifier():
    from nndl.errors import ConfigError
    with pytest.raises(ConfigError, match="784 inputs, 10 outputs"):
        notebook.draw(Network([64, 10, 10], seed=0))


HARNESS = """<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>
<script type='text/plain' id='esm'>{esm}</script>
<script type='application/json' id='spec'>{spec}</script>
<script type='module'>
const src = document.getElementById('esm').textContent;
const spec = JSON.parse(document.getElementById('spec').textContent);
const mod = await import(URL.createObjectURL(new Blob([src], {{type: 'text/javascript'}})));
window.els = {{}};
for (const kind of ['neuron', 'softmax', 'draw']) {{
  const el = document.createElement('div');
  document.body.appendChild(el);
  const values = {{kind: kind, spec: kind === 'draw' ? spec : null}};
  mod.default.render({{model: {{get: k => values[k], on() {{}}, off() {{}}, set() {{}},
                                save_changes() {{}}}}, el}});
  window.els[kind] = el;
}}
window.done = true;
</script></body></html>"""


def test_the_notebook_widgets_render_and_draw_predicts_with_the_given_network(browser, tmp_path):
    net = Network([784, 30, 10], seed=3, dtype="float64")
    page = tmp_path / "widgets.html"
    page.write_text(HARNESS.format(esm=notebook.widget_esm(),
                                   spec=json.dumps(model_payload(net, "random"))))
    browser.get(page.as_uri())
    browser.execute_async_script("const done = arguments[0];"
                                 "(function wait() { window.done ? done() : setTimeout(wait, 20); })();")
    counts = browser.execute_script(
        "return Object.fromEntries(Object.entries(window.els).map(([k, el]) => "
        "[k, [el.dataset.ready, el.querySelectorAll('input, button, canvas').length]]));")
    assert all(ready == "true" and n >= 3 for ready, n in counts.values()), counts
    result = browser.execute_script("""
        const el = window.els.draw, pad = el.querySelector('canvas.nndl-pad');
        const r = pad.getBoundingClientRect();
        const at = (type, x, y) => pad.dispatchEvent(new PointerEvent(type, {bubbles: true,
            pointerId: 1, clientX: r.left + x * r.width / 280, clientY: r.top + y * r.height / 280}));
        at('pointerdown', 90, 50);
        for (let i = 1; i <= 20; i++) at('pointermove', 90 + 3 * i, 50 + 9 * i);
        at('pointerup', 150, 230);
        return [el.dataset.pixels, el.dataset.probabilities, el.dataset.digit];""")
    pixels, probabilities, digit = json.loads(result[0]), json.loads(result[1]), int(result[2])
    out = net.feedforward(np.array(pixels)[None, :])[0]
    assert probabilities == pytest.approx(out / out.sum(), abs=1e-5)
    assert digit == int(out.argmax())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


# ---------------------------------------------------------- missing extras
def run_notebook(nb, cwd, allow_errors=False, timeout=300, env=None):
    import os

    import nbclient
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     allow_errors=allow_errors,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute(env=dict(os.environ, **(env or {})))
    return nb


def test_a_missing_notebook_dependency_is_one_line_in_a_notebook(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys\nsys.modules['anywidget'] = None   # as if not installed\n"
        "from nndl import notebook\nnotebook.neuron()")])
    run_notebook(nb, tmp_path, allow_errors=True)
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "MissingExtraError"
    assert error.traceback == ["MissingExtraError: this needs anywidget, which is not installed: "
                               "pip install 'nndl[notebook]'"]


def test_a_missing_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)
    monkeypatch.setattr(notebook, "_WIDGET", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'nndl\[notebook\]'") as e:
        notebook.softmax()
    assert isinstance(e.value, ImportError) and len(e.value._render_traceback_()) == 1


# ------------------------------------------------------------ the notebook
def cell_text(cell):
    """Everything a cell showed as text: streams and text/plain displays."""
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            parts.append(o.data.get("text/plain", ""))
    return "\n".join(parts)


def mimes(cell):
    return [m for o in cell.outputs if o.output_type in ("display_data", "execute_result")
            for m in o.data]


def accuracies(text):
    return [int(a) / int(n) for a, n in re.findall(r"Accuracy on evaluation data: (\d+) / (\d+)", text)]


@pytest.fixture(scope="module")
def executed(tmp_path_factory, mnist_file):
    import nbformat
    nb = run_notebook(nbformat.read(NOTEBOOK, as_version=4), tmp_path_factory.mktemp("nb"),
                      env={"NNDL_DATA": str(mnist_file)})
    return {c.id: c for c in nb.cells if c.cell_type == "code"}


@pytest.mark.mnist
def test_the_chapter3_notebook_runs_and_prints_sane_numbers(executed):
    assert all(o.output_type != "error" for c in executed.values() for o in c.outputs)
    first = accuracies(cell_text(executed["first-run"]))
    assert len(first) == 3 and 0.75 <= first[0] and first[-1] <= 0.97
    quad, xent = re.findall(r"output 0\.982 -> (\d\.\d+)", cell_text(executed["slowdown"]))
    assert float(quad) > 0.95 and float(xent) < 0.3            # the slowdown, and its cure
    assert "sum 1.0" in cell_text(executed["softmax-numbers"])
    finals = re.findall(r"final test accuracy (\d+) / 1000", cell_text(executed["l2"]))
    unreg, reg = (int(f) / 1000 for f in finals)
    assert 0.6 <= unreg <= 0.85 and 0.6 <= reg <= 0.88
    expand = [float(a) for a in re.findall(r"test accuracy (\d+\.\d+)%", cell_text(executed["expand"]))]
    assert len(expand) == 2 and all(70 <= a <= 95 for a in expand)
    init = [int(a) for a in re.findall(r"after one epoch (\d+) / 2000", cell_text(executed["init"]))]
    assert init[1] > init[0]                                  # the new initialization learns faster
    broad = re.findall(r"per epoch \[([\d, ]+)\]", cell_text(executed["broad"]))
    assert [int(a) for a in broad[0].split(",")] == [10] * 5  # eta 10, lmbda 1000: noise
    assert max(int(a) for a in broad[3].split(",")) >= 40     # eta 1, lmbda 20: a signal
    assert "stopped: early stopping" in cell_text(executed["schedule"])
    assert re.search(r"8x8 digits: test accuracy (9\d\.\d\d)%", cell_text(executed["sklearn"]))
    assert "reads seven.png as 7" in cell_text(executed["predict"])


@pytest.mark.mnist
def test_the_notebook_shows_widgets_plots_and_few_lines(executed):
    widget = "application/vnd.jupyter.widget-view+json"
    for cid in ("neuron", "softmax", "draw"):
        assert widget in mimes(executed[cid]), cid
    for cid in ("overfit", "l2", "schedule", "sklearn"):      # one plot each, redrawn in place
        assert mimes(executed[cid]).count("image/svg+xml") == 1, cid
    overfit = cell_text(executed["overfit"])
    assert "earlier lines not shown" in overfit and len(overfit.splitlines()) <= 8
    neurons = executed["neurons"]
    assert widget in mimes(neurons)                           # tqdm.auto: a widget here
    epoch_lines = [o.data["text/plain"].splitlines()[-1] for o in neurons.outputs
                   if o.output_type == "display_data"
                   and o.data.get("text/plain", "").startswith("each epoch: ")]
    assert [line.split()[1] for line in epoch_lines] == ["3/3", "3/3"]
    assert all("  valid " in line for line in epoch_lines)
