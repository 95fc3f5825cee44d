"""Fuzzing the command line: random argument lists for every command.

Each example is a list of words drawn from the command's real flags (for
``lr-find`` also every ``nndl train`` flag) and from awkward values --
negatives, zero, huge numbers, NaN, empty strings, undecodable bytes (as
Python passes them: surrogate escapes), lists, and paths to a missing file,
a folder, a device, a text file, a tiny IDX dataset and a real model --
given to ``nndl.cli.main`` in-process.  Every run must end with exit status
0, 2, 3 or 130 (or argparse's own exit for --help), never an exception
escaping ``main``, and a non-zero exit must say why on stderr in lines
starting with ``nndl: ``.

Training is kept short: ``train`` gets ``--epochs 1 --train-size 20
--progress off`` after the random words (the last flag wins), so a random
list is refused or trains one epoch on 20 images of 8x8.

``make test`` runs a fixed, derandomised set (``NNDL_CLI_FUZZ_EXAMPLES`` per
command, default 60: 660 lists in all); for a longer campaign with fresh lists:

    NNDL_CLI_FUZZ_EXAMPLES=2000 NNDL_FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/test_cli_fuzz.py
"""

import contextlib
import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndl.cli import build_parser, main
from nndl.network import Network
from nndl.persistence import save
from reliability_helpers import make_idx_dir

EXAMPLES = int(os.environ.get("NNDL_CLI_FUZZ_EXAMPLES", "60"))
RANDOM = bool(os.environ.get("NNDL_FUZZ_RANDOM"))
OK_EXITS = {0, 2, 3, 130}
COMMANDS = sorted(build_parser().subcommands)

VALUES = ["-1", "0", "1", "2", "-0.5", "0.5", "1e308", "-1e308", "99999999999999999999",
          "nan", "inf", "", " ", "a", "1,2", "64,10,4", "0,11", "3,3", "-1,5", "x=1",
          "shift:pixels=1", "elastic:alpha=-1", "halve", "step:1:2", "5:0.1",
          "training-cost,evaluation-accuracy", os.fsdecode(b"\xff\xfe"), "caf\u00e9",
          "missing.json", "adir", "/dev/null", "afile.txt", "idx:idx", "idx:missing",
          "model.json", "idx", "new.json", "adir/new.json", "nodir/new.json", "bad.toml",
          "sqlite:///x.db", "bash", "zsh", "slowdown", "--", "-"]


NUMBERS = ["0", "1", "2", "3", "10", "0.1", "0.5", "0.9", "1e-9", "1000", "-3", "4:0.01"]


def actions_of(command):
    """{option: (takes a value, its choices or None)} of ``command``
    (lr-find: and train's), but --help."""
    subs = build_parser().subcommands
    parsers = [subs[command]] + ([subs["train"]] if command == "lr-find" else [])
    found = {}
    for parser in parsers:
        for a in parser._actions:
            for option in a.option_strings:
                if option not in ("-h", "--help"):
                    found.setdefault(option, (a.nargs != 0, a.choices))
    return found or {"--help": (False, None)}


def flags_of(command):
    return sorted(actions_of(command))


@pytest.fixture(scope="module")
def playground(tmp_path_factory):
    """A folder with the files the values name."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    make_idx_dir(root / "idx", n_train=80, n_test=20)
    (root / "adir").mkdir()
    (root / "afile.txt").write_text("not json\n")
    (root / "bad.toml").write_bytes(b"eta = \xff\n")
    save(Network([64, 10, 4], seed=0), root / "model.json")
    return root


def words(command):
    """Mostly flags with a value (one of its choices, a plausible number, or
    an awkward value), so that lists get past the parser; some stray values."""
    actions = actions_of(command)

    def with_value(flag):
        takes, choices = actions[flag]
        if not takes:
            return st.just([flag])
        pools = [st.sampled_from(NUMBERS), st.sampled_from(VALUES)]
        if choices:
            pools.append(st.sampled_from([str(c) for c in choices]))
        return st.one_of(*pools).map(lambda v: [flag, v])
    item = st.one_of(st.sampled_from(sorted(actions)).flatmap(with_value),
                     st.sampled_from(VALUES).map(lambda v: [v]))
    return st.lists(item, max_size=3).map(lambda items: [w for i in items for w in i])


TINY = ["--dataset", "idx:idx", "--validation-size", "20", "--sizes", "64,10,4"]


def cap(command, argv):
    """Keep a run short: the tiny dataset unless the words choose another,
    and (the last flag wins) one epoch on 20 images."""
    if command == "train":
        return argv[:1] + TINY + argv[1:] + ["--epochs", "1", "--train-size", "20",
                                             "--progress", "off"]
    if command == "lr-find":
        return argv[:1] + TINY + argv[1:] + ["--epochs", "1", "--train-size", "20"]
    if command == "search":
        return argv + ["--trials", "1"]
    if command == "reproduce":
        return argv + ["--quick", "--seeds", "1"]
    return argv


@pytest.mark.parametrize("command", COMMANDS)
def test_random_arguments_never_end_in_a_traceback(command, playground, monkeypatch):
    monkeypatch.chdir(playground)
    monkeypatch.setenv("NNDL_CACHE_DIR", str(playground / "cache"))
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: True)   # playground --open

    @settings(max_examples=EXAMPLES, derandomize=not RANDOM, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(argv=words(command))
    def check(argv):
        argv = cap(command, [command] + argv)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:          # --help, --version: argparse's own exit
                code = e.code
                assert code == 0, (argv, err.getvalue())
        text = err.getvalue()
        assert code in OK_EXITS, (argv, code, text)
        assert "Traceback" not in text, (argv, text)
        if code:
            lines = text.strip().splitlines()
            assert lines and all(line.startswith("nndl: ") for line in lines), (argv, text)
            assert any(line.startswith(("nndl: error: ", "nndl: interrupted"))
                       for line in lines), (argv, text)
    check()
