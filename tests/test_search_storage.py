"""A search that cannot start creates no database file."""

import os

import pytest

pytest.importorskip("optuna")

from nndl.cli import main  # noqa: E402
from nndl.errors import ConfigError, OutputError  # noqa: E402
from nndl.search.study import open_storage, sqlite_file  # noqa: E402


def test_search_without_arguments_creates_no_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nndl: error: no search named 'nndl-search' in sqlite:///")
    assert "(the file does not exist)" in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_worker_for_a_missing_study_creates_no_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--worker", "--study", "zzz", "--storage", "sqlite:///none.db"]) == 2
    assert "no search named 'zzz'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_storage_checks(tmp_path):
    assert sqlite_file("sqlite:///a/b.db").as_posix() == "a/b.db"
    assert sqlite_file(str(tmp_path / "x.db")) == tmp_path / "x.db"
    assert sqlite_file("sqlite://") is None and sqlite_file("postgresql://h/db") is None
    with pytest.raises(ConfigError, match="no search named 'w'"):
        open_storage(str(tmp_path / "w.db"), create=False, study="w")
    with pytest.raises(OutputError, match=r"^--storage .*nodir/s.db: the folder .* does not exist"):
        open_storage(str(tmp_path / "nodir" / "s.db"))
    assert os.listdir(tmp_path) == []
    open_storage(str(tmp_path / "s.db"))          # a new search may create its file
    assert os.listdir(tmp_path) == ["s.db"]
