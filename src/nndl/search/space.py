"""The search space: which ``nndl train`` flags to search, over what.

A space file is TOML whose keys are ``nndl train`` flag names.  A key whose
value is a table with a ``type`` is searched; any other value is fixed for
every trial::

    sizes = "784,30,10"                                  # fixed
    epochs = 10                                          # fixed
    eta = {type = "float", low = 0.01, high = 10, log = true}
    lmbda = {type = "float", low = 0.1, high = 20, log = true}
    batch-size = {type = "int", low = 5, high = 50}
    hidden = {type = "categorical", choices = ["30", "100", "30,30"]}

``hidden`` is the one key that is not a train flag: the hidden layer sizes,
with the input and output layers taken from the data, so depth and width can
be searched without writing 784 and 10 into every choice.  Types:
``float`` and ``int`` (``low``, ``high``, optional ``log`` and ``step``) and
``categorical`` (``choices``), which are Optuna's distributions.  The space
is checked before any trial runs: every key must be an option of
``nndl.run.RunConfig`` and every value its constraint allows.
"""

import json

from ..errors import ConfigError
from ..options import check_option, read_toml, settings_from

HIDDEN = "hidden"
# Flags the search itself controls in every trial.
RESERVED = {"evaluate-on": "the objective is always validation accuracy",
            "monitor": "trials monitor validation accuracy",
            "progress": "trials run without progress bars",
            "save": "use the best configuration's command to save a model",
            "metrics-out": "the study's storage records every trial"}
GRID_LIMIT = 100_000


class Space:
    """Fixed settings plus Optuna distributions, keyed by train flag name."""

    def __init__(self, fixed, dims):
        self.fixed = dict(fixed)
        self.dims = dict(dims)

    # ------------------------------------------------------------ building
    @classmethod
    def from_toml(cls, path):
        """Read and validate a space file."""
        return cls.from_dict(read_toml(path), source=str(path))

    @classmethod
    def from_dict(cls, doc, source="search space"):
        """Build a space from ``{flag: value or {type: ...}}`` and validate it."""
        fixed, dims = {}, {}
        for name, value in doc.items():
            if isinstance(value, dict):
                dims[name] = distribution(name, value, source)
            else:
                fixed[name] = value
        space = cls(fixed, dims)
        space.validate(source)
        return space

    def to_json(self):
        """The space as JSON text (stored with the study, read by workers)."""
        from optuna.distributions import distribution_to_json
        return json.dumps({"fixed": self.fixed,
                           "dims": {k: json.loads(distribution_to_json(d))
                                    for k, d in self.dims.items()}}, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """Inverse of ``to_json``."""
        from optuna.distributions import json_to_distribution
        doc = json.loads(text)
        return cls(doc["fixed"], {k: json_to_distribution(json.dumps(d))
                                  for k, d in doc["dims"].items()})

    # ---------------------------------------------------------- validation
    def validate(self, source):
        """Raise ConfigError unless every trial this space can produce is a
        valid ``nndl train`` configuration (checked at each range's ends and
        at every choice)."""
        if not self.dims:
            raise ConfigError(f"{source}: nothing to search; give at least one option as "
                              '{type = "float" | "int" | "categorical", ...}')
        if HIDDEN in self.names() and "sizes" in self.names():
            raise ConfigError(f"{source}: give 'hidden' or 'sizes', not both")
        for name in self.names():
            if name in RESERVED:
                raise ConfigError(f"{source}: {name} cannot be set in a search "
                                  f"({RESERVED[name]})")
            if name != HIDDEN:
                check_option(name, source)
        for settings in self.corner_settings():
            self.config(settings, n_in=1, n_out=1, source=source)

    def names(self):
        """Every option the space mentions, fixed or searched."""
        return list(self.fixed) + list(self.dims)

    def corner_settings(self):
        """A few settings that together use every range end and every choice."""
        from optuna.distributions import CategoricalDistribution
        values = {}
        for name, d in self.dims.items():
            values[name] = list(d.choices) if isinstance(d, CategoricalDistribution) \
                else [d.low, d.high]
        for i in range(max(len(v) for v in values.values())):
            yield {**self.fixed, **{k: v[min(i, len(v) - 1)] for k, v in values.items()}}

    # -------------------------------------------------------------- trials
    def suggest(self, trial):
        """Ask the Optuna trial for a value of each searched option."""
        return {name: suggest(trial, name, d) for name, d in self.dims.items()}

    def settings(self, params):
        """Fixed settings plus a trial's parameters."""
        return {**self.fixed, **params}

    def config(self, settings, n_in, n_out, source="search space", base_only=False):
        """The RunConfig for ``settings``: ``hidden`` becomes sizes
        ``n_in,hidden,n_out``; every value is checked by its option's
        constraint (ConfigError naming ``source``).  ``base_only`` leaves
        ``hidden`` out (to find the data before the sizes are known)."""
        from ..run import RunConfig
        settings = dict(settings)
        if HIDDEN in settings:
            hidden = settings.pop(HIDDEN)
            hidden = ",".join(str(h) for h in hidden) if isinstance(hidden, list) else str(hidden)
            if not base_only:
                settings["sizes"] = f"{n_in},{hidden},{n_out}"
        try:
            return RunConfig(**settings_from(settings, source))
        except ConfigError as e:
            message = str(e)
            raise ConfigError(message if message.startswith(source) else
                              f"{source}: {message}") from None

    def grid(self):
        """Every searched option's finite list of values, for grid search."""
        from optuna.distributions import CategoricalDistribution, IntDistribution
        grid = {}
        for name, d in self.dims.items():
            if isinstance(d, CategoricalDistribution):
                grid[name] = list(d.choices)
            elif d.step is None:
                raise ConfigError(f"grid search needs a finite set of values for {name}: "
                                  "give it a 'step' or make it categorical")
            else:
                count = int(round((d.high - d.low) / d.step)) + 1
                values = [d.low + i * d.step for i in range(count)]
                grid[name] = values if isinstance(d, IntDistribution) else \
                    [float(f"{v:.12g}") for v in values]
        size = 1
        for values in grid.values():
            size *= len(values)
        if size > GRID_LIMIT:
            raise ConfigError(f"the grid has {size} points; more than {GRID_LIMIT} is "
                              "not a grid search, use --sampler random or tpe")
        return grid


def distribution(name, spec, source):
    """Turn ``{type = ..., ...}`` into an Optuna distribution (ConfigError if bad)."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)
    spec = dict(spec)
    kind = spec.pop("type", None)
    allowed = {"float": ("low", "high", "log", "step"), "int": ("low", "high", "log", "step"),
               "categorical": ("choices",)}
    if kind not in allowed:
        raise ConfigError(f"{source}: {name}: type must be float, int or categorical, "
                          f"not {kind!r}")
    unknown = sorted(set(spec) - set(allowed[kind]))
    if unknown:
        raise ConfigError(f"{source}: {name}: unknown key(s) {', '.join(unknown)} for a "
                          f"{kind} (allowed: {', '.join(allowed[kind])})")
    try:
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ValueError("choices must be a non-empty list")
            if any(isinstance(c, (list, dict)) for c in choices):
                raise ValueError('each choice must be one value; write layer lists as "30,30"')
            return CategoricalDistribution(choices)
        if "low" not in spec or "high" not in spec:
            raise ValueError("needs low and high")
        if kind == "int":
            return IntDistribution(int(spec["low"]), int(spec["high"]),
                                   log=bool(spec.get("log", False)), step=int(spec.get("step", 1)))
        return FloatDistribution(float(spec["low"]), float(spec["high"]),
                                 log=bool(spec.get("log", False)), step=spec.get("step"))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{source}: {name}: {e}") from None


def suggest(trial, name, d):
    """One value of distribution ``d`` from the Optuna trial."""
    from optuna.distributions import CategoricalDistribution, IntDistribution
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
