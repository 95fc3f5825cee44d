"""End to end: ``nndl reproduce all --quick`` and ``nndl report``.

Every runnable experiment runs once in its reduced setting (about a minute on
two cores); the metrics files must parse and name existing PNGs, the report
must embed every plot, and headless Chromium must render every image.
"""

import json
import re
import shutil
import subprocess

import pytest

from nndl.cli import main
from nndl.experiments import EXPERIMENTS

RUNNABLE = [n for n, e in EXPERIMENTS.items() if e.pending is None]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run every experiment reduced, then the report; return the folder."""
    out = tmp_path_factory.mktemp("reproduction")
    assert main(["reproduce", "all", "--quick", "--seeds", "2", "--out", str(out)]) == 0
    assert main(["report", "--out", str(out)]) == 0
    return out


@pytest.mark.mnist
def test_every_experiment_writes_metrics_and_plots(quick_run):
    for name in RUNNABLE:
        record = json.loads((quick_run / name / "metrics.json").read_text())
        assert record["name"] == name
        assert record["metadata"]["quick"] is True
        assert record["metadata"]["command"].startswith(f"nndl reproduce {name} --quick")
        assert record["plots"], name
        for plot in record["plots"]:
            assert (quick_run / name / plot).read_bytes()[:8] == PNG_MAGIC, (name, plot)
        keys = {c.key for c in EXPERIMENTS[name].claims}
        assert {c["key"] for c in record["claims"]} == keys
        for c in record["claims"]:
            assert c["verdict"] in ("not judged (quick run)", "not measured"), (name, c)
            if c["ours"] is not None:
                expected = 1 if not EXPERIMENTS[name].uses_seeds else 2
                assert len(c["ours"]["values"]) == expected, (name, c["key"])


@pytest.mark.mnist
def test_quick_slowdown_numbers_are_exact(quick_run):
    record = json.loads((quick_run / "slowdown" / "metrics.json").read_text())
    ours = {c["key"]: c["ours"]["mean"] for c in record["claims"]}
    assert round(ours["initial_output_small"], 2) == 0.82
    assert round(ours["initial_output_large"], 2) == 0.98


@pytest.mark.mnist
def test_quick_slowdown_records_both_learning_rates_and_the_shape(quick_run):
    record = json.loads((quick_run / "slowdown" / "metrics.json").read_text())
    assert record["config"]["eta"] == {"quadratic": 0.15, "cross-entropy": 0.005}
    ours = {c["key"]: c["ours"]["mean"] for c in record["claims"]}
    assert ours["cross_entropy_steepest"] == 0 and ours["cross_entropy_start_share"] == 1.0
    assert ours["quadratic_steepest"] > 100


@pytest.mark.mnist
def test_quick_figures_embody_the_chapters_identities(quick_run):
    """The figures experiment trains nothing, so its checks hold in --quick too."""
    record = json.loads((quick_run / "figures" / "metrics.json").read_text())
    claims = {c["key"]: c for c in record["claims"]}
    assert claims["identity_111"]["ours"]["mean"] < 1e-12
    assert claims["softmax_sum"]["ours"]["mean"] < 1e-12
    assert claims["poly_residual"]["ours"]["mean"] < 1e-6
    assert claims["softmax_own_rise"]["ours"]["mean"] > 0 > claims["softmax_others_rise"]["ours"]["mean"]


@pytest.mark.mnist
def test_report_markdown_links_every_plot(quick_run):
    md = (quick_run / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == sum(len(json.loads((quick_run / n / "metrics.json").read_text())["plots"])
                             for n in RUNNABLE)
    for link in links:
        assert (quick_run / link).is_file(), link
    for name in RUNNABLE:
        assert f"## {name}" in md
    assert "## Not yet reproduced" not in md


@pytest.mark.mnist
def test_report_html_renders_every_image_in_chromium(quick_run, tmp_path):
    """Open the HTML page in headless Chromium; the page's own script marks
    the body once every <img> has decoded with a non-zero width."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: this test needs it "
                    "(apt-get install chromium chromium-driver; .ci/run does this)")
    html = (quick_run / "report.html").read_text()
    n_images = html.count("<img ")
    assert n_images == html.count("src='data:image/png;base64,")
    assert "src='http" not in html and "src=\"http" not in html   # self-contained
    profile = tmp_path / "profile"
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           "--virtual-time-budget=10000", "--dump-dom",
                           (quick_run / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body, done.stdout[:500]
    assert 'data-images="ok"' in body.group(0), body.group(0)
    assert f'data-image-count="{n_images}"' in body.group(0)


def test_list_names_every_experiment(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name, e in EXPERIMENTS.items():
        assert re.search(rf"^{name}\s", out, re.M), name
    assert "pending" not in out


def test_a_pending_experiment_is_listed_and_refused(monkeypatch, capsys):
    """The registry still handles an experiment whose feature is missing."""
    from nndl.experiments import Experiment
    waiting = Experiment(name="future", section="s", title="t", claims=(),
                         pending="pending: needs the future feature")
    monkeypatch.setitem(EXPERIMENTS, "future", waiting)
    assert main(["reproduce", "--list"]) == 0
    assert "pending: needs the future feature" in capsys.readouterr().out
    assert main(["reproduce", "future"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nndl: error: future is pending") and err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["reproduce", "nonsense"], "unknown experiment 'nonsense'"),
    (["reproduce"], "name an experiment"),
    (["reproduce", "slowdown", "--seeds", "0"], "--seeds"),
])
def test_bad_reproduce_arguments_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nndl: error:") and message in err and err.count("\n") == 1


def test_report_without_results_is_one_line(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no results under" in err and err.count("\n") == 1


def test_report_with_only_a_corrupt_metrics_file(tmp_path, capsys):
    (tmp_path / "slowdown").mkdir()
    (tmp_path / "slowdown" / "metrics.json").write_text("{not json")
    assert main(["report", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"nndl: warning: skipping {tmp_path}/slowdown/metrics.json: ")
    assert err[1].startswith("nndl: error: no results under") and "1 unreadable" in err[1]
    assert not (tmp_path / "report.html").exists()


@pytest.mark.mnist
def test_report_skips_an_unreadable_metrics_file_and_says_so(quick_run, tmp_path, capsys):
    import shutil as sh
    out = tmp_path / "r"
    sh.copytree(quick_run, out)
    (out / "slowdown" / "metrics.json").write_bytes(b"\xff\xfe not UTF-8")
    (out / "zzz").mkdir()
    (out / "zzz" / "metrics.json").write_text("[1, 2]")
    capsys.readouterr()
    assert main(["report", "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("nndl: warning: skipping ") for line in err)
    assert "slowdown/metrics.json: 'utf-8' codec can't decode" in err[0]
    assert err[1].endswith("zzz/metrics.json: not a metrics file written by 'nndl reproduce'")
    title = json.loads((out / "weight_init" / "metrics.json").read_text())["title"]
    assert title in (out / "report.md").read_text()


@pytest.mark.mnist
def test_report_includes_the_discussion(quick_run, tmp_path):
    """A hand-written discussion.md appears, escaped, in both reports."""
    import shutil as sh
    out = tmp_path / "r"
    sh.copytree(quick_run, out)
    (out / "discussion.md").write_text("# Why\n\nThe <b>threshold</b> differs.\n\n- one\n- two\n\n"
                                       "Run `nndl report` *now*.\n")
    assert main(["report", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "<h3>Why</h3>" in page and "The &lt;b&gt;threshold&lt;/b&gt; differs." in page
    assert "<li>one</li><li>two</li>" in page
    assert "Run <code>nndl report</code> <em>now</em>." in page
    assert "The <b>threshold</b> differs." in (out / "report.md").read_text()


@pytest.mark.mnist
def test_report_names_experiments_without_results(quick_run, tmp_path):
    import shutil as sh
    out = tmp_path / "r"
    sh.copytree(quick_run, out)
    sh.rmtree(out / "l1_vs_l2")
    assert main(["report", "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## l1_vs_l2" not in md
    assert "l1_vs_l2 [Other techniques for regularization]" in md
    assert "run 'nndl reproduce l1_vs_l2'" in md


def test_a_claim_with_no_finite_value_reads_not_measured():
    """A NaN (stored as null) is reported, not a crash of the report."""
    from nndl.reproduce import format_ours
    missing = {"mean": None, "std": 0.0, "min": None, "max": None, "values": [None]}
    assert format_ours(missing, "points") == "not measured"
    assert format_ours({"mean": 1.5, "std": 0.0, "min": 1.5, "max": 1.5, "values": [1.5]},
                       "points") == "1.5 points"
