"""The shipped model: small, accurate, and exactly what its recorded command trains."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nndl import pretrained
from nndl.cli import main
from nndl.persistence import load

PACKAGE = Path(pretrained.__file__).parent


def seven(path):
    """A plain handwritten-looking 7, black on white, 200x200."""
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).line([(60, 40), (140, 40), (90, 170)], fill=0, width=14)
    img.save(path)
    return path


def test_the_model_is_in_the_package_small_and_described():
    size = (PACKAGE / pretrained.MODEL).stat().st_size
    assert size < 400_000                      # well under 1 MB
    prov = pretrained.provenance()
    assert prov["command"].startswith("nndl train ") and "--seed 0" in prov["command"]
    assert prov["stored_bytes"] == size
    metrics = json.loads((PACKAGE / pretrained.METRICS).read_text())
    assert metrics["test_accuracy"] == prov["test_accuracy_float32"]
    assert metrics["config"]["seed"] == prov["seed"] == 0
    net = pretrained.load()
    assert net.sizes == prov["sizes"] and net.sizes[0] == 784 and net.sizes[-1] == 10
    stored = pretrained.stored_arrays()
    assert all(stored[k].dtype == np.float16 for k in stored if k != "meta")


@pytest.mark.mnist
def test_the_shipped_model_scores_what_its_provenance_says(mnist):
    net = pretrained.load()
    acc = net.accuracy(mnist.test.images, mnist.test.labels) / len(mnist.test)
    assert acc == pretrained.provenance()["test_accuracy_float16"]
    assert acc >= 0.98


@pytest.mark.mnist
def test_the_recorded_command_retrains_the_same_weights(tmp_path, mnist_file):
    """Run the provenance's command in a fresh process; round to float16.
    The bits depend on the CPU the compiled kernel targets and on Numba; on
    the machine the model was built on they must match exactly."""
    prov = pretrained.provenance()
    argv = shlex.split(prov["command"])
    argv[0] = str(Path(sys.executable).with_name("nndl"))
    env = dict(os.environ, NNDL_DATA=str(mnist_file))
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    retrained = pretrained.quantise(load(tmp_path / "model.json"))
    shipped = pretrained.stored_arrays()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    if pretrained.kernel_id() == prov["trained_on"]:
        assert retrained.keys() == shipped.keys()
        for k in shipped:
            assert np.array_equal(retrained[k], shipped[k]), k
        assert metrics["test_accuracy"] == prov["test_accuracy_float32"]
    else:   # another CPU or Numba: another rounding path, so only the result can be compared
        assert metrics["test_accuracy"] >= 0.98, (pretrained.kernel_id(), prov["trained_on"])


def test_predict_without_a_model_uses_the_shipped_one_and_says_so(tmp_path, capsys):
    img = seven(tmp_path / "seven.png")
    assert main(["predict", str(img)]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == f"nndl: {pretrained.describe()}"
    assert len(err.strip().splitlines()) == 1
    assert out.startswith(f"{img}: 7  (")


def test_predict_with_a_model_but_no_image_is_refused(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nndl: error: no image given") and len(err.splitlines()) == 1


def test_playground_without_a_model_shows_the_shipped_one(tmp_path, capsys):
    out = tmp_path / "p.html"
    assert main(["playground", "--out", str(out)]) == 0
    o, err = capsys.readouterr()
    assert err.strip() == f"nndl: {pretrained.describe()}"
    assert pretrained.NAME in o
    data = out.read_text().split("id='nndl-data'>")[1].split("</script>")[0]
    model = json.loads(data)["model"]
    assert model["sizes"] == pretrained.provenance()["sizes"]
