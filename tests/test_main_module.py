"""The command's edges below its options: ``python -m nndl``, a closed pipe,
and ``predict --show``."""

import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw

from nndl import Network
from nndl.cli import main
from nndl.persistence import save


def test_python_dash_m_nndl_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "nndl", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("nndl ")


def test_a_closed_pipe_stops_the_command_quietly():
    """'nndl reproduce --list | head -1': the reader goes away before the
    listing is written; no 'Broken pipe' error, the status of SIGPIPE."""
    p = subprocess.Popen([sys.executable, "-m", "nndl", "reproduce", "--list"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                      # before the interpreter has even started
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait() == 141 and err == b""


def test_predict_show_saves_what_the_network_saw(tmp_path, capsys):
    model = tmp_path / "m.json"
    save(Network([784, 10, 10], seed=0), model)
    images = []
    for name, line in (("a.png", [(20, 10), (20, 50)]), ("b.png", [(10, 30), (50, 30)])):
        img = Image.new("L", (60, 60), 255)
        ImageDraw.Draw(img).line(line, fill=0, width=6)
        img.save(tmp_path / name)
        images.append(str(tmp_path / name))
    shown = tmp_path / "seen.png"
    assert main(["predict", str(model), *images, "--show", str(shown)]) == 0
    strip = np.asarray(Image.open(shown))
    assert strip.shape == (28, 56)
    assert strip[:, :28].max() == 255 and strip[:, 28:].max() == 255
    capsys.readouterr()
    missing = tmp_path / "nodir" / "seen.png"
    assert main(["predict", str(tmp_path / "no-model.json"), *images, "--show", str(missing)]) == 2
    err = capsys.readouterr().err          # refused before the model is even read
    assert err == f"nndl: error: --show {missing}: the folder {missing.parent} does not exist\n"
