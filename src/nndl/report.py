"""One report of every reproduced experiment: ``nndl report``.

Reads ``DIR/*/metrics.json`` (written by ``nndl reproduce``) and writes
``DIR/report.html`` -- self-contained, every plot embedded as a data URI --
and ``DIR/report.md``, its Markdown twin, which links the PNGs beside it.
Per experiment: the plots, the book's numbers, ours (mean and spread over
seeds), the verdict against the stated tolerance, the command to rerun it,
and the run's metadata.  A hand-written ``DIR/discussion.md``, if present,
is included after the summary: it is where the numbers that do not
reproduce are explained.
"""

import base64
import html
import json
import re
import sys
from pathlib import Path

from .errors import ConfigError
from .persistence import atomic_write_text
from .reproduce import format_ours

TOLERANCES = (
    "How the tolerances were chosen: a number that is an exact property (sigma(1.5), a predicted "
    "standard deviation) must agree to the book's rounding or to its sampling error; an accuracy "
    "the book reports from a single SGD run must agree within a few times the seed-to-seed spread "
    "we measured (about 0.5 points for runs on all 50,000 images, 1.5 points for runs on 1,000 "
    "images, wider for 100 validation images); the book's qualitative statements ('under 87 "
    "percent', 'does not stall') become bounds.  Each row says which rule it uses.  'ours' is "
    "the mean +- sample standard deviation (min to max) over the seeds.")

REQUIRED = ("name", "section", "title", "claims", "plots", "metadata")

BOOK = "http://neuralnetworksanddeeplearning.com/chap3.html"

# The chapter's section headings, in its order (from the chapter's text).
SECTIONS = (
    "The cross-entropy cost function", "Introducing the cross-entropy cost function",
    "Using the cross-entropy to classify MNIST digits",
    "What does the cross-entropy mean? Where does it come from?", "Softmax",
    "Overfitting and regularization", "Regularization",
    "Why does regularization help reduce overfitting?", "Other techniques for regularization",
    "Weight initialization", "Handwriting recognition revisited: the code",
    "How to choose a neural network's hyper-parameters?", "Other techniques",
    "Variations on stochastic gradient descent", "Other models of artificial neuron",
)

# The book's figure each experiment corresponds to, in our words (the book's
# figures are not numbered); "no figure" where the book gives only numbers.
BOOK_FIGURES = {
    "slowdown": "the animated neuron at the start of the section, learning from (w, b) = (0.6, 0.9) "
                "and from (2, 2) with the quadratic cost, and the same two runs with the "
                "cross-entropy in 'Introducing the cross-entropy cost function'",
    "overfitting": "the graphs of the 1,000-image run without regularization: training cost "
                   "(epochs 200 to 399), test accuracy, test cost and training accuracy per epoch",
    "overfitting_full": "the graph of training and test accuracy per epoch for all 50,000 images, "
                        "30 epochs",
    "regularized": "the graphs of the lmbda = 0.1 run on 1,000 images: training cost and test "
                   "accuracy per epoch over 400 epochs",
    "regularized_full": "the graph of training and test accuracy per epoch of the lmbda = 5.0 run "
                        "on 50,000 images",
    "more_data": "the graphs of accuracy against training set size, on linear and logarithmic "
                 "axes, and the network against an SVM ('Artificially expanding the training data')",
    "svm_full": "the SVM's point at 50,000 images in the graph of the network against an SVM",
    "expansion": "no figure: the expanded-data accuracies the text quotes (Simard et al.) in "
                 "'Artificially expanding the training data'",
    "l1_vs_l2": "no figure: the text's comparison of how L1 and L2 regularization shrink weights",
    "weight_init": "the two graphs of validation accuracy per epoch, old against new weight "
                   "initialization, with 30 and with 100 hidden neurons",
    "z_distribution": "the two graphs of the distribution of z: broad (standard deviation "
                      "sqrt(501) = 22.4) and sharply peaked (sqrt(3/2) = 1.22)",
    "multiple_eta": "the graph of training cost per epoch for eta = 0.025, 0.25 and 2.5",
    "hyperparameter_walkthrough": "no figure: the printed validation accuracies of the "
                                  "'broad strategy' walk-through",
    "lr_threshold": "no figure: the text's recipe for estimating the threshold learning rate",
    "early_stopping": "no figure: the text's no-improvement-in-10 rule and its problem asking "
                      "for a better rule",
    "lr_schedule": "no figure: the learning-rate schedule the text describes",
    "mini_batch_time": "no figure: the text asks for validation accuracy against elapsed time "
                       "for several mini-batch sizes, which is our plot",
}


def book_anchor(section):
    """The anchor the book gives a section heading: lower case, spaces as
    underscores, punctuation other than - and ' dropped
    ("How to choose a neural network's hyper-parameters?" ->
    "how_to_choose_a_neural_network's_hyper-parameters")."""
    kept = re.sub(r"[^a-z0-9\s'-]", "", section.lower())
    return "_".join(kept.split())


def book_link(section):
    """The web address of a section of the chapter."""
    return f"{BOOK}#{book_anchor(section)}"


def book_figure(name):
    """Which of the book's figures an experiment corresponds to."""
    return BOOK_FIGURES.get(name, "not named yet")

# Sets data-images="ok" on <body> once every image has decoded, "broken" if
# any failed: how the tests tell, in a real browser, that the plots render.
IMAGE_CHECK = """<script>
function checkImages() {
  const imgs = Array.from(document.images);
  const ok = imgs.every(i => i.complete && i.naturalWidth > 0);
  document.body.dataset.images = ok ? "ok" : "broken";
  document.body.dataset.imageCount = String(imgs.length);
}
window.addEventListener("load", checkImages);
</script>"""

STYLE = """<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
.matches { color: #060; } .differs { color: #a00; font-weight: bold; }
img { max-width: 100%; } code { background: #f4f4f4; }
.plots figure { margin: 1em 0; } .plots img { width: 48em; }
.plots figcaption { font-size: 0.85em; color: #555; }
nav ol { columns: 3 16em; }
</style>"""


def load_results(out, warn=None):
    """Return the records under ``out``, in the registry's order.

    An unreadable ``metrics.json`` is skipped, and ``warn`` (default: one
    line on stderr) is told which and why; ConfigError if none is left."""
    from .experiments import EXPERIMENTS
    warn = warn or (lambda message: print(f"nndl: warning: {message}", file=sys.stderr))
    out = Path(out)
    records, skipped = [], 0
    for path in sorted(out.glob("*/metrics.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or any(k not in record for k in REQUIRED):
                raise ValueError("not a metrics file written by 'nndl reproduce'")
        except (OSError, ValueError, RecursionError) as e:
            warn(f"skipping {path}: {_first_line(e)}")
            skipped += 1
            continue
        records.append(record)
    if not records:
        unreadable = f" ({skipped} unreadable, skipped)" if skipped else ""
        raise ConfigError(f"no results under {out}{unreadable}: run "
                          f"'nndl reproduce all --out {out}' first")
    order = list(EXPERIMENTS)
    return sorted(records, key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))


def _first_line(error):
    """An exception as one short line, for a warning."""
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def tally(record):
    """Return 'k of n match' for one experiment's verdicts."""
    verdicts = [c["verdict"] for c in record["claims"]]
    return f"{verdicts.count('matches')} of {len(verdicts)} match"


def write_report(out):
    """Write report.html and report.md under ``out``; return their paths."""
    from .experiments import EXPERIMENTS
    out = Path(out)
    records = load_results(out)
    done = {r["name"] for r in records}
    pending = [e for e in EXPERIMENTS.values() if e.pending or e.name not in done]
    discussion = read_discussion(out)
    html_path, md_path = out / "report.html", out / "report.md"
    atomic_write_text(html_path, render_html(records, pending, out, discussion))
    atomic_write_text(md_path, render_markdown(records, pending, discussion))
    return html_path, md_path


def read_discussion(out):
    """Return the text of ``out/discussion.md``, or '' if there is none."""
    path = Path(out) / "discussion.md"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e})") from None


def inline_html(text):
    """Escape ``text``, then turn `code` and *emphasis* into HTML."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*([^*\s][^*]*)\*", r"<em>\1</em>", text)


def discussion_html(text):
    """Render the discussion's Markdown minimally: '#' lines become
    headings, '- ' lines list items, other blocks paragraphs (all escaped)."""
    parts = []
    for block in text.split("\n\n"):
        block = block.strip()
        if block.startswith("#"):
            parts.append(f"<h3>{inline_html(block.lstrip('#').strip())}</h3>")
        elif block.startswith("- "):
            items = [inline_html(item.strip()) for item in block[2:].split("\n- ")]
            parts.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
        elif block:
            parts.append(f"<p>{inline_html(block)}</p>")
    return "\n".join(parts)


def image_data_uri(path):
    """Return the PNG at ``path`` as a data URI, or raise ConfigError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: plot missing ({e.strerror})") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(records, pending, out, discussion=""):
    """Return the report as one HTML page with the plots embedded."""
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>Reproducing chapter 3 of Neural Networks and Deep Learning</title>",
             STYLE, IMAGE_CHECK, "</head><body>",
             "<h1>Reproducing chapter 3 of <i>Neural Networks and Deep Learning</i></h1>",
             f"<p>{e(intro(records))}</p>", toc_html(records, pending, discussion),
             f"<p>{e(TOLERANCES)}</p>", "<h2 id='summary'>Summary</h2>",
             "<table><tr><th>experiment</th><th>section of the book</th>"
             "<th>verdicts</th><th>seconds</th></tr>"]
    for r in records:
        parts.append(f"<tr><td><a href='#{e(r['name'])}'>{e(r['name'])}</a></td>"
                     f"<td><a href='{e(book_link(r['section']))}'>{e(r['section'])}</a></td>"
                     f"<td>{e(tally(r))}</td><td>{r['metadata']['seconds']}</td></tr>")
    parts.append("</table>")
    if discussion:
        parts += ["<h2 id='discussion'>Discussion</h2>", discussion_html(discussion)]
    for r in records:
        m = r["metadata"]
        parts += [f"<h2 id='{e(r['name'])}'>{e(r['name'])}: {e(r['title'])}</h2>",
                  f"<p>The book: section <a href='{e(book_link(r['section']))}'><i>"
                  f"{e(r['section'])}</i></a>; {e(book_figure(r['name']))}.</p>",
                  f"<p>Rerun: <code>{e(m['command'])}</code></p>",
                  "<table><tr><th>the book says</th><th>book</th><th>ours</th><th>verdict</th>"
                  "<th>why this tolerance</th></tr>"]
        for c in r["claims"]:
            cls = c["verdict"].split()[0]
            parts.append(f"<tr><td>{e(c['text'])}</td><td>{e(c['target'])}</td>"
                         f"<td>{e(format_ours(c['ours'], c['unit']))}</td>"
                         f"<td class='{cls}'>{e(c['verdict'])}</td><td>{e(c['reason'])}</td></tr>")
        parts.append("</table>")
        for note in r.get("notes", []):
            parts.append(f"<p><b>Note:</b> {e(note)}</p>")
        parts.append("<div class='plots'>")
        for plot in r["plots"]:
            parts.append(f"<figure><img alt='{e(r['name'])}: {e(plot)}' "
                         f"src='{image_data_uri(out / r['name'] / plot)}'>"
                         f"<figcaption>{e(plot)}</figcaption></figure>")
        parts.append("</div>")
        parts.append(f"<p><small>{e(describe_metadata(m))}</small></p>")
        parts.append(f"<details><summary>configuration</summary><pre>"
                     f"{e(json.dumps(r.get('config', {}), indent=1))}</pre></details>")
    if pending:
        parts.append("<h2 id='not-yet-reproduced'>Not yet reproduced</h2><ul>")
        parts += [f"<li>{e(p.name)} [{e(p.section)}]: {e(p.title)} ({e(why_missing(p))})</li>"
                  for p in pending]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(records, pending, discussion=""):
    """Return the report as Markdown linking the PNGs beside it."""
    lines = ["# Reproducing chapter 3 of *Neural Networks and Deep Learning*", "", intro(records), "",
             toc_markdown(records, pending, discussion), "", TOLERANCES, "", "## Summary", "",
             "| experiment | section of the book | verdicts | seconds |", "| --- | --- | --- | --- |"]
    lines += [f"| [{r['name']}](#{r['name']}) | [{r['section']}]({book_link(r['section'])}) | "
              f"{tally(r)} | {r['metadata']['seconds']} |" for r in records]
    if discussion:
        lines += ["", "## Discussion", "", discussion]
    for r in records:
        m = r["metadata"]
        lines += ["", f"## {r['name']}", "", f"**{r['title']}**", "",
                  f"The book: section [*{r['section']}*]({book_link(r['section'])}); "
                  f"{book_figure(r['name'])}.", "",
                  f"Rerun: `{m['command']}`", "",
                  "| the book says | book | ours | verdict | why this tolerance |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {c['text']} | {c['target']} | {format_ours(c['ours'], c['unit'])} | "
                  f"{c['verdict']} | {c['reason']} |" for c in r["claims"]]
        lines += [""] + [f"**Note:** {n}" for n in r.get("notes", [])]
        lines += [f"![{r['name']}: {p}]({r['name']}/{p})" for p in r["plots"]]
        lines += ["", describe_metadata(m)]
    if pending:
        lines += ["", "## Not yet reproduced", ""]
        lines += [f"- {p.name} [{p.section}]: {p.title} ({why_missing(p)})" for p in pending]
    return "\n".join(lines) + "\n"


def toc_entries(records, pending, discussion):
    """(anchor, text) of the report's sections, for its table of contents."""
    entries = [("summary", "Summary")] + ([("discussion", "Discussion")] if discussion else [])
    entries += [(r["name"], r["name"]) for r in records]
    return entries + ([("not-yet-reproduced", "Not yet reproduced")] if pending else [])


def toc_html(records, pending, discussion):
    """The table of contents as an HTML list."""
    items = "".join(f"<li><a href='#{html.escape(a)}'>{html.escape(t)}</a></li>"
                    for a, t in toc_entries(records, pending, discussion))
    return f"<nav aria-label='contents'><h2>Contents</h2><ol>{items}</ol></nav>"


def toc_markdown(records, pending, discussion):
    """The table of contents as a Markdown list (GitHub's heading anchors)."""
    return "\n".join(f"{k}. [{t}](#{a})" for k, (a, t) in
                     enumerate(toc_entries(records, pending, discussion), 1))


def why_missing(experiment):
    """Return why an experiment has no result: pending, or not run here."""
    return experiment.pending or f"no result in this folder: run 'nndl reproduce {experiment.name}'"


def intro(records):
    """Return the report's opening sentence: how many numbers match."""
    claims = [c for r in records for c in r["claims"]]
    matched = sum(c["verdict"] == "matches" for c in claims)
    quick = any(r["metadata"].get("quick") for r in records)
    text = (f"{len(records)} experiments, {len(claims)} claims of the book checked: {matched} "
            f"match within the stated tolerance.")
    if quick:
        text += " These are --quick runs (reduced settings), so no verdict is given."
    return text


def describe_metadata(m):
    """Return one line of run metadata."""
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    threads = f", BLAS threads {m['blas_threads']}" if m.get("blas_threads") else ""
    return (f"Run {m['date']} on {m['machine']}{threads} in {m['seconds']} s; seeds: {m['seeds']}; "
            f"quick: {m['quick']}; {versions}.")
