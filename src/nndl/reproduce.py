"""Running the chapter's experiments: ``nndl reproduce``.

``run_experiment`` runs one registered experiment, judges its numbers
against the book's, and writes ``OUT/NAME/metrics.json`` beside the plots;
``format_table`` prints the book's number beside ours.
"""

import datetime
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ConfigError
from .outputs import atomic_write_text


def select(names):
    """Return the experiments named (``all`` for every runnable one), or
    raise ConfigError for an unknown or pending name."""
    from .experiments import EXPERIMENTS
    if not names:
        raise ConfigError("name an experiment (or 'all'); 'nndl reproduce --list' lists them")
    if "all" in names:
        return [e for e in EXPERIMENTS.values() if e.pending is None]
    chosen = []
    for name in names:
        if name not in EXPERIMENTS:
            raise ConfigError(f"unknown experiment {name!r}; 'nndl reproduce --list' lists them")
        if EXPERIMENTS[name].pending:
            raise ConfigError(f"{name} is {EXPERIMENTS[name].pending}")
        chosen.append(EXPERIMENTS[name])
    return chosen


def listing():
    """Return the text of ``nndl reproduce --list``: name, section, title."""
    from .experiments import EXPERIMENTS
    width = max(len(n) for n in EXPERIMENTS)
    lines = []
    for e in EXPERIMENTS.values():
        status = f"  [{e.pending}]" if e.pending else ""
        lines.append(f"{e.name:<{width}}  [{e.section}] {e.title}{status}")
    return "\n".join(lines)


def command_line(name, quick, seeds):
    """Return the command that reruns one experiment."""
    return f"nndl reproduce {name}{' --quick' if quick else ''} --seeds {seeds}"


def metadata(name, quick, seeds, seconds):
    """Return what a reader needs to know about the run: versions, machine,
    date, duration and the command."""
    versions = {"nndl": __version__, "numpy": np.__version__,
                "python": platform.python_version()}
    for package in ("matplotlib", "sklearn"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            pass
    return {"command": command_line(name, quick, seeds), "quick": quick, "seeds": seeds,
            "seconds": round(seconds, 1), "versions": versions, "blas_threads": blas_threads(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def blas_threads():
    """Return how many threads NumPy's BLAS uses (None if unknown): it changes
    the timings, not the results."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else None


def run_experiment(experiment, quick, seeds, out_root):
    """Run ``experiment``, write OUT/NAME/metrics.json and return its record."""
    from .experiments import judge
    seeds = seeds if experiment.uses_seeds else 1
    out = Path(out_root) / experiment.name
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = experiment.run(quick, seeds, out)
    record = {"name": experiment.name, "section": experiment.section, "title": experiment.title,
              "claims": judge(experiment.claims, result.values, quick),
              "plots": list(result.plots), "config": result.config, "notes": result.notes,
              "metadata": metadata(experiment.name, quick, seeds, time.perf_counter() - start),
              "series": result.series}
    atomic_write_text(out / "metrics.json", json.dumps(clean_json(record), indent=1))
    return record


def clean_json(value):
    """Return ``value`` with NumPy scalars made plain and NaN/inf made None,
    so the file is strict JSON."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def format_ours(ours, unit):
    """Return our value as 'mean +- std (min to max, k seeds)' or one number."""
    if ours is None:
        return "-"
    if ours["mean"] is None:          # no finite value (e.g. nothing measured in time)
        return "not measured"
    u = "" if not unit else (unit if unit == "%" else f" {unit}")
    n = len(ours["values"])
    if n == 1:
        return f"{ours['mean']:.4g}{u}"
    return (f"{ours['mean']:.4g}{u} +- {ours['std']:.2g} "
            f"({ours['min']:.4g} to {ours['max']:.4g}, {n} seeds)")


def format_table(record):
    """Return the printed summary of one experiment: each claim, the book's
    number, ours and the verdict."""
    lines = [f"== {record['name']} [{record['section']}] ({record['metadata']['seconds']} s)"]
    for c in record["claims"]:
        lines.append(f"  {c['text']}\n    book {c['target']}  |  ours {format_ours(c['ours'], c['unit'])}"
                     f"  |  {c['verdict']}")
    lines.append(f"  plots: {', '.join(record['plots'])}")
    return "\n".join(lines)
