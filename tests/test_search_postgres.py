"""Many workers, one study: two ``nndl search --worker`` processes share a
study in a real PostgreSQL server, started here from Debian's ``postgresql``
package (``.ci/run`` installs it), and every trial is recorded exactly once."""

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from test_search import make_idx_dataset, nndl_process, trials_in

pytestmark = pytest.mark.postgres


def postgres_bin():
    """The newest server binary directory; fail (not skip) when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found or not os.path.exists(os.path.join(found[-1], "pg_ctl")):
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
                    "install Debian's package (apt-get install postgresql; .ci/run does)")
    return Path(found[-1])


def free_port():
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """Start a private server (as the 'postgres' user when run as root, since
    PostgreSQL refuses to run as root) on 127.0.0.1 and a free port; yield a
    URL to a fresh database; stop the server and delete its files."""
    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="nndl-pg-"))
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def pg(tool, *args):
        result = subprocess.run([*as_user, str(bin_dir / tool), *map(str, args)],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            pytest.fail(f"{tool} failed: {result.stderr.strip() or result.stdout.strip()}")

    pg("initdb", "-D", data, "-U", "nndl", "--auth=trust", "-E", "UTF8", "--no-sync")
    pg("pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-o",
       f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", port, "-U", "nndl", "search")
        yield f"postgresql://nndl@127.0.0.1:{port}/search"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_one_study_and_record_each_trial_once(postgres_url, tmp_path):
    idx_dir = make_idx_dataset(tmp_path / "idx")
    space = tmp_path / "space.toml"
    space.write_text(f'dataset = "idx:{idx_dir}"\nvalidation-size = 100\nepochs = 100\n'
                     'eta = {type = "float", low = 0.1, high = 10, log = true}\n'
                     'hidden = {type = "categorical", choices = ["4", "8"]}\n')
    # 100 epochs make a trial last long enough that the second worker starts
    # before the first has run the whole study alone (on an idle machine 5 did not)
    target = 8
    args = ["search", "--worker", "--space", space, "--trials", target, "--study", "shared",
            "--storage", postgres_url]
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    files = [open(p, "w") for p in logs]
    try:
        workers = [nndl_process(args, f) for f in files]
        codes = [w.wait(timeout=180) for w in workers]
    finally:
        for f in files:
            f.close()
    texts = [p.read_text() for p in logs]
    assert codes == [0, 0], texts
    # each worker prints one line per trial it ran: "[k/N] #number state ..."
    ran = [set(map(int, re.findall(r"^\[\d+/\d+\] #(\d+)", t, re.M))) for t in texts]
    assert ran[0] and ran[1], f"both workers should have run trials: {texts}"
    assert not ran[0] & ran[1]                           # no trial run twice
    trials = trials_in(postgres_url, "shared")
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))   # each recorded once, no gaps
    finished = {t.number for t in trials if t.state.name in ("COMPLETE", "PRUNED")}
    assert finished == ran[0] | ran[1]                   # none lost, none invented
    # the target counts both workers; each may start one last trial as the other finishes
    assert target <= len(finished) <= target + 1
