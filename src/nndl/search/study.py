"""Studies: where trials are stored, how they are chosen, when they stop.

Everything here is Optuna's.  A study lives in a database: a SQLite file by
default (one machine; a killed search resumes from the file), or any
database SQLAlchemy reaches (``postgresql://...``), which every worker on
every machine joins by name.  The study records its own search space, sampler,
pruner and target number of trials, so a worker needs only the study's name
and the database's address.

Trials of a process that died (SIGKILL, power loss, a lost machine) stop
sending heartbeats; after ``GRACE_SECONDS`` the next trial to start marks them
failed and queues the same parameters again, once.
"""

import importlib.util
import os
import time
import warnings
from pathlib import Path

from ..errors import ConfigError
from .space import Space

DEFAULT_STORAGE = "sqlite:///nndl-search.db"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30
SAMPLERS = ("tpe", "random", "grid", "gp")
PRUNERS = ("median", "halving", "none")
ATTR = "nndl"              # study user attribute holding the search's settings


def storage_url(text):
    """A storage URL; a bare file path means a SQLite file there.  A plain
    ``postgresql://`` URL uses whichever driver is installed (SQLAlchemy 2.1
    defaults to psycopg 3; nndl's extra installs psycopg2)."""
    if "://" not in text:
        return f"sqlite:///{os.path.abspath(text)}"
    if (text.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None
            and importlib.util.find_spec("psycopg2") is not None):
        return "postgresql+psycopg2://" + text[len("postgresql://"):]
    return text


def sqlite_file(url):
    """The file a SQLite storage URL names, or None (another database, or
    SQLite in memory)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        parsed = make_url(storage_url(url))
    except ArgumentError:
        return None
    database = parsed.database
    if (parsed.get_backend_name() != "sqlite" or not database or database == ":memory:"
            or database.startswith("file:")):
        return None
    return Path(database)


def open_storage(url, *, create=True, study=None):
    """Connect to the study database (heartbeats on; ConfigError if it fails).

    With ``create=False`` (joining the study ``study``, which must exist: a
    worker, or a search without ``--space``) a SQLite file that does not
    exist is an error, and none is created.  With ``create=True`` a new
    SQLite file's folder is checked first, so the message names the path.
    """
    import optuna
    from optuna.exceptions import StorageInternalError
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import (IntegrityError, OperationalError, ProgrammingError,
                                SQLAlchemyError)
    url = storage_url(url)
    _check_sqlite_file(url, create, study)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS,
                                  grace_period=GRACE_SECONDS, **retry_stale_trials())
        except ImportError as e:
            raise ConfigError(f"storage {redact(url)} needs a database driver: {e.name or e} "
                              "(for PostgreSQL: pip install psycopg2-binary)") from None
        except (IntegrityError, OperationalError, ProgrammingError) as e:
            # Several processes creating the tables of an empty database at once
            # (workers, or a reader of a search that is starting): one wins, the
            # others find the tables on their next try.  SQLite reports the loser
            # as "table ... already exists", PostgreSQL as a duplicate table, type
            # or object ("... already exists"); anything else is a real failure.
            if not isinstance(e, IntegrityError) and "already exists" not in str(e):
                raise ConfigError(f"cannot open storage {redact(url)}: {_first_line(e)}") from None
            time.sleep(1 + attempt)
        except (SQLAlchemyError, StorageInternalError) as e:
            raise ConfigError(f"cannot open storage {redact(url)}: {_first_line(e)}") from None
    raise ConfigError(f"cannot create the tables in {redact(url)}")


def _first_line(error):
    """The first line of a database error's message (its type if it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_sqlite_file(url, create, study):
    """Refuse, before anything is created, a SQLite file that cannot serve."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    if not create:
        raise ConfigError(f"no search named {study!r} in {redact(url)} (the file does not "
                          "exist); start it with nndl search --space FILE.toml --study NAME")
    from ..outputs import check_output_path
    check_output_path(path, "--storage")


def retry_stale_trials():
    """The RDBStorage argument that queues a dead process's trial again, once
    (named ``heartbeat_stale_trial_callback`` since Optuna 4.9)."""
    import optuna.storages as storages
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        return {"heartbeat_stale_trial_callback":
                storages.RetryHeartbeatStaleTrialCallback(max_retry=1)}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=1)}


def redact(url):
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def make_sampler(name, space, seed=None):
    """The Optuna sampler called ``name`` (grid needs a finite space; gp needs torch)."""
    import optuna
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(f"--sampler gp needs {' and '.join(missing)} (Optuna's Gaussian-"
                              "process sampler uses PyTorch and SciPy): pip install 'nndl[gp]'")
        return optuna.samplers.GPSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


def make_pruner(name):
    """The Optuna pruner called ``name``, judging trials by validation accuracy per epoch."""
    import optuna
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; choose from {', '.join(PRUNERS)}")


def open_study(storage, name, *, space=None, trials=None, sampler=None, pruner=None,
               seed=None):
    """Create or join the study ``name``; return (study, space, settings).

    With ``space`` the study is created if new; an existing study must have the
    same space.  Without it (a worker) the study must exist and its stored
    space is used.  Sampler, pruner and target number of trials default to
    the study's stored ones; given, they update it.
    """
    import optuna
    stored = stored_settings(storage, name)
    if not stored and space is None:
        raise ConfigError(f"no search named {name!r} in {redact(storage.url)}; start it "
                          "with nndl search --space FILE.toml --study NAME")
    if stored is not None and space is not None and space.to_json() != stored["space"]:
        raise ConfigError(f"the search {name!r} in {redact(storage.url)} has a different "
                          "search space; use another --study name")
    settings = dict(stored or {"space": space.to_json(), "sampler": "tpe",
                               "pruner": "median", "trials": 20})
    for key, value in (("trials", trials), ("sampler", sampler), ("pruner", pruner)):
        if value is not None:
            settings[key] = value
    space = space or Space.from_json(settings["space"])
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                load_if_exists=True,
                                sampler=make_sampler(settings["sampler"], space, seed),
                                pruner=make_pruner(settings["pruner"]))
    if settings != stored:
        study.set_user_attr(ATTR, settings)
    return study, space, settings


def stored_settings(storage, name):
    """The search settings stored with study ``name``, or None if there is
    no such study."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    # {} while another worker that created the study has not stored them yet
    return storage.get_study_user_attrs(study_id).get(ATTR, {})


def finished(study):
    """How many trials have finished: completed or pruned."""
    from optuna.trial import TrialState
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_trials(study, objective, target, timeout=None, callbacks=()):
    """Run trials until ``target`` have finished in the whole study (every
    worker's count), ``timeout`` seconds pass, or a grid is exhausted."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState
    remaining = target - finished(study)
    if remaining <= 0:
        return
    stop = MaxTrialsCallback(target, states=(TrialState.COMPLETE, TrialState.PRUNED))
    study.optimize(objective, n_trials=remaining, timeout=timeout,
                   callbacks=[stop, *callbacks], gc_after_trial=False)
