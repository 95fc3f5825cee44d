"""What an experiment is, and how its result is judged against the book.

An experiment module declares one ``Experiment``: its name, the chapter
section it reproduces, the book's numbers as ``Claim`` objects (each with a
tolerance and the reason for it), and a ``run(quick, seeds, out)`` function.
``run`` trains, draws its plots into ``out`` and returns a ``Result``: the
value each claim measured in each seed, the curves behind the plots and the
configuration.  ``judge`` turns those values into mean, spread and a verdict.
"""

from dataclasses import dataclass, field

import numpy as np

KINDS = ("approx", "at_most", "at_least")


@dataclass(frozen=True)
class Claim:
    """One number the book states, and how close ours must come.

    ``kind`` says how ``book`` is compared with the mean of our values:
    'approx' within +-``tolerance``; 'at_most' no more than book + tolerance
    (the book says "under"); 'at_least' no less than book - tolerance.
    ``reason`` says why the tolerance is what it is.
    """

    key: str
    text: str
    book: float
    tolerance: float
    reason: str
    kind: str = "approx"
    unit: str = "%"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim kind must be one of {KINDS}, got {self.kind!r}")

    def holds(self, value):
        """Return whether ``value`` agrees with the book within the tolerance."""
        if self.kind == "approx":
            return abs(value - self.book) <= self.tolerance
        if self.kind == "at_most":
            return value <= self.book + self.tolerance
        return value >= self.book - self.tolerance

    def describe_target(self):
        """Return the target as a short phrase, e.g. '82.27 +- 1.5 %'."""
        unit = "" if self.unit in ("", None) else f" {self.unit}"
        sign = {"approx": "", "at_most": "<= ", "at_least": ">= "}[self.kind]
        return f"{sign}{_fmt(self.book)}{unit} (tolerance {_fmt(self.tolerance)})"


@dataclass
class Result:
    """What ``run`` returns: per-claim values (one per seed), plot files,
    the curves behind the plots, and the configuration used."""

    values: dict
    plots: list
    series: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.  ``pending`` names the missing feature for an
    experiment that cannot run yet (``run`` is then None)."""

    name: str
    section: str
    title: str
    claims: tuple
    run: object = None
    pending: str = None
    uses_seeds: bool = True


def summarize(values):
    """Return mean, sample standard deviation, min, max and the values."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "values": [float(x) for x in v]}


def judge(claims, values, quick):
    """Return one record per claim: the book's number, ours summarised over
    seeds, and the verdict ('matches', 'differs', 'not measured' when the
    run could not measure it, or 'not judged' for a reduced --quick run,
    whose setting is not the book's)."""
    records = []
    for claim in claims:
        ours = summarize(values[claim.key]) if values.get(claim.key) else None
        if ours is None:
            verdict = "not measured"
        elif quick:
            verdict = "not judged (quick run)"
        else:
            verdict = "matches" if claim.holds(ours["mean"]) else "differs"
        records.append({"key": claim.key, "text": claim.text, "book": claim.book,
                        "kind": claim.kind, "tolerance": claim.tolerance, "unit": claim.unit,
                        "reason": claim.reason, "target": claim.describe_target(),
                        "ours": ours, "verdict": verdict})
    return records


def _fmt(x):
    """Format a number compactly: integers without decimals, others to 4 significant digits."""
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"
