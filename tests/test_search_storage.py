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


def test_a_table_created_at_the_same_moment_by_another_process_is_retried(tmp_path, monkeypatch):
    """SQLite tells the loser of two processes creating the tables at once
    'table ... already exists'; opening the storage tries again instead of
    failing (a search and a worker, or a reader, starting together)."""
    import optuna.storages
    from sqlalchemy.exc import OperationalError

    real, calls = optuna.storages.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("CREATE TABLE studies", {}, Exception("table studies already exists"))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr("nndl.search.study.time.sleep", lambda s: None)
    assert open_storage(str(tmp_path / "s.db")) is not None and len(calls) == 2


def test_postgresqls_duplicate_object_from_a_concurrent_creation_is_retried(tmp_path,
                                                                             monkeypatch):
    import optuna.storages
    from sqlalchemy.exc import ProgrammingError

    real, calls = optuna.storages.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ProgrammingError("CREATE TYPE trialstate", {},
                                   Exception('type "trialstate" already exists'))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr("nndl.search.study.time.sleep", lambda s: None)
    assert open_storage(str(tmp_path / "s.db")) is not None and len(calls) == 2


def test_any_other_database_error_is_one_line(tmp_path, monkeypatch):
    import optuna.storages
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error\nmore detail"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", broken)
    with pytest.raises(ConfigError, match=r"cannot open storage sqlite:///.*: .*disk I/O error$"):
        open_storage(str(tmp_path / "s.db"))
