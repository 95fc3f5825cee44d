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


# ------------------------------------------------- what a write may replace

import socket
import stat
import tempfile
from pathlib import Path

from nndl.errors import OutputError
from nndl.persistence import check_distinct, check_output_path, save, save_fallback


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_devices_are_refused_and_stay_devices(device):
    """As root a rename over /dev/full would succeed: the check comes first."""
    with pytest.raises(OutputError, match=rf"^{device}: not a regular file \(a character device\)"):
        atomic_write_text(device, "{}")
    with pytest.raises(OutputError, match=rf"^--save {device}: not a regular file"):
        check_output_path(device, "--save")
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_fifo_socket_and_directory_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file \\(a FIFO\\)"):
        atomic_write_text(fifo, "{}")          # refused without opening it: no hang
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with tempfile.TemporaryDirectory(dir="/tmp") as short:   # AF_UNIX paths are short
        sock_path = os.path.join(short, "s")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(sock_path)
            with pytest.raises(OutputError, match="a socket"):
                check_output_path(sock_path, "--metrics-out")
            assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
    with pytest.raises(OutputError, match="a directory"):
        atomic_write_text(tmp_path, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_symlink_is_written_through_and_stays_a_link(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "model.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(os.path.relpath(target, tmp_path))
    save(Network([3, 2], seed=0), link)
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, tmp_path)
    assert load(target).sizes == [3, 2]
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in real_dir.iterdir()) == ["model.json"]
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(real_dir / "new.json")
    atomic_write_text(dangling, "{}")
    assert dangling.is_symlink() and (real_dir / "new.json").read_text() == "{}"


def test_symlink_to_a_device_is_refused():
    with tempfile.TemporaryDirectory() as d:
        link = Path(d) / "m.json"
        link.symlink_to("/dev/full")
        with pytest.raises(OutputError, match="m.json: not a regular file"):
            atomic_write_text(link, "{}")
        assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_missing_folder_is_named_never_the_temporary_file(tmp_path):
    path = tmp_path / "nodir" / "good.json"
    with pytest.raises(OutputError) as e:
        atomic_write_text(path, "{}")
    assert str(e.value) == f"{path}: the folder {tmp_path / 'nodir'} does not exist"
    with pytest.raises(OutputError, match=r"^--save .*nodir/good.json: the folder .* does not exist$"):
        check_output_path(path, "--save")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output_path(tmp_path / "file" / "m.json", "--save")
    assert check_output_path(tmp_path / "ok.json", "--save") == tmp_path / "ok.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]   # the probe is gone


UNWRITABLE = """
import os, sys
from nndl.errors import OutputError
from nndl.persistence import atomic_write_text, check_output_dir, check_output_path
if os.getuid() == 0:
    os.setgid(65534); os.setuid(65534)       # root may write anywhere: act as nobody
for call in (lambda: atomic_write_text(sys.argv[1], "{}"),
             lambda: check_output_path(sys.argv[1], "--plot"),
             lambda: check_output_dir(sys.argv[1] + ".d", "--out")):
    try:
        call()
    except OutputError as e:
        print(e)
"""


def test_read_only_folder_is_named():
    with tempfile.TemporaryDirectory(dir="/tmp") as d:      # /tmp: nobody may look inside
        os.chmod(d, 0o555)
        path = os.path.join(d, "m.json")
        out = subprocess.run([sys.executable, "-c", UNWRITABLE, path], capture_output=True,
                             text=True, check=True).stdout.splitlines()
        assert out == [f"{path}: cannot write in the folder {d} (Permission denied)",
                       f"--plot {path}: cannot write in the folder {d} (Permission denied)",
                       f"--out {path}.d: cannot write in the folder {d} (Permission denied)"]
        assert os.listdir(d) == []


MODES = """
import os, sys
import numpy as np
os.umask(int(sys.argv[2], 8))
def no_umask(*a):
    raise AssertionError("os.umask called")
os.umask = no_umask                       # the writers must never change it
from nndl import Network
from nndl.data import Dataset, Splits, write_idx
from nndl.data.dataset import save_npz
from nndl.expansion.store import write_preview
from nndl.persistence import atomic_write_text, save
d = sys.argv[1]
atomic_write_text(os.path.join(d, "a.json"), "{}")
save(Network([3, 2], seed=0), os.path.join(d, "m.json"))
ds = Dataset(np.zeros((2, 4)), np.zeros(2, dtype=np.int64))
save_npz(os.path.join(d, "s.npz"), Splits(ds, ds, ds))
write_idx(os.path.join(d, "x-idx1-ubyte.gz"), np.zeros(3, dtype=np.uint8))
write_preview(os.path.join(d, "p.png"), np.zeros((1, 4, 4)), [np.ones((1, 4, 4))])
"""


@pytest.mark.parametrize("umask, mode", [("022", 0o644), ("027", 0o640), ("077", 0o600)])
def test_every_writer_gives_the_umasks_mode(tmp_path, umask, mode):
    subprocess.run([sys.executable, "-c", MODES, str(tmp_path), umask], check=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.json", "m.json", "p.png", "s.npz", "x-idx1-ubyte.gz"]
    assert {n: (tmp_path / n).stat().st_mode & 0o777 for n in names} == dict.fromkeys(names, mode)


def test_full_disk_names_the_target_and_leaves_nothing(tmp_path, monkeypatch):
    import nndl.persistence as p

    def full(*args):
        raise OSError(28, "No space left on device")
    path = tmp_path / "m.json"
    monkeypatch.setattr(p.os, "fsync", full)
    with pytest.raises(OutputError) as e:
        save(Network([3, 2], seed=0), path)
    assert str(e.value) == f"{path}: No space left on device" and e.value.errno == 28
    monkeypatch.undo()

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")
    with pytest.raises(OutputError, match=r"m.json: No space left on device$"):
        with p.atomic_writer(path) as f:
            Full().write("x")                  # a write inside the block fails
    assert list(tmp_path.iterdir()) == []


def test_save_fallback_keeps_the_network(tmp_path, monkeypatch):
    net = Network([4, 3], seed=5)
    monkeypatch.setenv("NNDL_CACHE_DIR", str(tmp_path / "cache"))
    where = save_fallback(net, "/nonexistent/best.json")
    assert where.startswith(str(tmp_path / "cache" / "rescued" / "nndl-rescued-best-"))
    np.testing.assert_array_equal(load(where).weights[0], net.weights[0])
    (tmp_path / "blocked").write_text("")          # the cache cannot be made: /tmp then
    monkeypatch.setenv("NNDL_CACHE_DIR", str(tmp_path / "blocked"))
    where = save_fallback(net, "best.json")
    try:
        assert Path(where).parent == Path(tempfile.gettempdir())
        np.testing.assert_array_equal(load(where).biases[0], net.biases[0])
    finally:
        os.unlink(where)


def test_check_distinct_finds_the_same_file_under_two_names(tmp_path):
    a = tmp_path / "m.json"
    check_distinct({"--save": a, "--metrics-out": tmp_path / "n.json", "--plot": None})
    with pytest.raises(OutputError, match=r"^--save .*m.json and --metrics-out .*m.json are the same file"):
        check_distinct({"--save": a, "--metrics-out": tmp_path / "." / "m.json"})
    (tmp_path / "link.json").symlink_to(a)
    with pytest.raises(OutputError, match="same file"):
        check_distinct({"--save": a, "--metrics-out": tmp_path / "link.json"})
    a.write_text("{}")
    os.link(a, tmp_path / "hard.json")
    with pytest.raises(OutputError, match="same file"):
        check_distinct({"--save": tmp_path / "hard.json", "--checkpoint": a})


def test_publish_moves_a_finished_file_like_the_writer(tmp_path):
    from nndl.persistence import publish
    work = tmp_path / "work"
    work.mkdir()
    (work / "dl").write_text("data")
    target = tmp_path / "real.bin"
    (tmp_path / "link.bin").symlink_to(target.name)
    publish(work / "dl", tmp_path / "link.bin")
    assert (tmp_path / "link.bin").is_symlink() and target.read_text() == "data"
    (work / "dl").write_text("more")
    with pytest.raises(OutputError, match="not a regular file"):
        publish(work / "dl", "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and (work / "dl").exists()


def test_check_output_dir(tmp_path):
    from nndl.persistence import check_output_dir
    assert check_output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path
    assert check_output_dir(tmp_path, "--checkpoint") == tmp_path
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"^--checkpoint .*file: is not a folder$"):
        check_output_dir(tmp_path / "file", "--checkpoint")
    with pytest.raises(OutputError, match=r"^--out .*file/sub: cannot be created: .*file is not a folder"):
        check_output_dir(tmp_path / "file" / "sub", "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]     # nothing created
