"""Atomic saves: a writer SIGKILLed at random moments never leaves a broken
file behind -- the target is always the old complete file or the new one."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nndl import Network
from nndl.persistence import atomic_write_text, load

WRITER = """
import sys
from nndl import Network
from nndl.persistence import save
nets = [Network([784, 200, 10], seed=s) for s in (1, 2)]
print("ready", flush=True)
i = 0
while True:
    save(nets[i % 2], sys.argv[1])
    i += 1
"""


def test_model_writer_killed_at_random_moments_leaves_a_valid_model(tmp_path):
    path = tmp_path / "model.json"
    expected = [Network([784, 200, 10], seed=s).weights[1] for s in (1, 2)]
    rng = random.Random(0)
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.6))       # a save takes ~0.1-0.2 s: kill mid-write
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        if path.exists():
            net = load(path)                     # always parses: the old file or the new
            assert any(np.array_equal(net.weights[1], e) for e in expected)
    assert path.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.json"]
    assert all(n.startswith(".model.json.") and n.endswith(".tmp") for n in leftovers)


def test_failed_write_keeps_old_file_and_permissions(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, json.dumps({"old": True}))
    os.chmod(path, 0o640)
    import nndl.persistence as p

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(p.os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(path, json.dumps({"new": True}))
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"old": True}
    assert [f.name for f in tmp_path.iterdir()] == ["metrics.json"]
    atomic_write_text(path, "{}")
    assert path.stat().st_mode & 0o777 == 0o640     # a replaced file keeps its mode
    new = tmp_path / "new.json"
    atomic_write_text(new, "{}")
    assert new.stat().st_mode & 0o777 == 0o666 & ~_umask()   # not mkstemp's private 0600


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
