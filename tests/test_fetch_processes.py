"""Two processes fetching at once do not corrupt the cache; a fetch killed
mid-download leaves nothing behind that the next fetch would trust."""

import hashlib
import os
import signal
import subprocess
import sys

FETCHER = """
import sys, time
from pathlib import Path
from nndl.data.fetch import Expected, fetch_mnist
good = bytes(range(256)) * 400
expected = Expected(sha256=sys.argv[2], size=len(good), arrays_sha256="0" * 64, name="fake")

def slow_source(workdir, quiet):
    with open(sys.argv[3], "a") as log:          # count downloads across processes
        log.write("download\\n")
    out = Path(workdir) / "out.pkl.gz"
    with open(out, "wb") as f:
        for i in range(0, len(good), 10240):     # a slow, chunked download
            f.write(good[i:i + 10240]); f.flush(); time.sleep(float(sys.argv[4]))
    return out

print(fetch_mnist(cache_dir=sys.argv[1], sources=[slow_source], quiet=True, expected=expected))
"""
GOOD = bytes(range(256)) * 400
SHA = hashlib.sha256(GOOD).hexdigest()


def _fetcher(cache, log, delay):
    return subprocess.Popen([sys.executable, "-c", FETCHER, str(cache), SHA, str(log), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if k != "NNDL_DATA"})


def test_two_processes_fetch_at_once(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "downloads.log"
    procs = [_fetcher(cache, log, 0.02) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0] == f"{cache / 'fake.pkl.gz'}\n"
    assert log.read_text() == "download\n"         # the second found the first's verified file
    assert (cache / "fake.pkl.gz").read_bytes() == GOOD
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "fake.pkl.gz"]


def test_fetch_killed_mid_download_leaves_no_trusted_partial_file(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "downloads.log"
    slow = _fetcher(cache, log, 0.2)
    while not log.exists() or not list(cache.glob(".fetch-*/out.pkl.gz")):
        assert slow.poll() is None
    slow.send_signal(signal.SIGKILL)
    slow.communicate()
    assert not (cache / "fake.pkl.gz").exists()     # the partial file was never renamed into place
    fast = _fetcher(cache, log, 0.0)
    out, err = fast.communicate(timeout=60)
    assert fast.returncode == 0, err
    assert (cache / "fake.pkl.gz").read_bytes() == GOOD
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "fake.pkl.gz"]   # stale work dir removed
