"""``nndl train`` options as data: TOML files, presets and generated command lines.

A config file (``nndl train --config FILE``), a preset and a search space
describe a training run as a mapping from ``nndl train`` flag names (without
the leading ``--``) to values.  Each name is a field of
``nndl.run.RunConfig`` and each value is converted by that field's own
constraint (``nndl.params``), as its flag's text would be, so every option
``nndl train`` accepts -- today's and any added later -- works in a file or
a search space, with the same checks and messages.  The other way round,
``to_argv`` and ``to_toml`` write a config out as flags or as a file.
"""

import difflib
import json
import math
import sys
from dataclasses import fields

from .errors import ConfigError
from .params import Flag, Repeated

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# Keys a config file may not set: they are about the file itself or the command.
NOT_SETTABLE = ("help", "config", "preset")
# Named option sets shipped with nndl: src/nndl/presets/NAME.toml.
PRESETS_PACKAGE = "nndl.presets"


def read_toml(path):
    """Return the TOML document at ``path`` as a dict; ConfigError if unreadable."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); a TOML file must be "
                          "UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None


def _fields():
    from .run import RunConfig
    return {f.name.replace("_", "-"): f for f in fields(RunConfig)}


def check_option(name, source):
    """Return the RunConfig field of the flag ``name``, or raise ConfigError."""
    known = _fields()
    if name in known and name not in NOT_SETTABLE:
        return known[name]
    close = difflib.get_close_matches(name, [a for a in known if a not in NOT_SETTABLE], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"{source}: unknown option {name!r}: not an 'nndl train' flag{hint}")


def settings_from(doc, source):
    """Turn ``{flag: value}`` (from TOML, a preset or a search trial) into
    ``{field: value}`` for RunConfig, each value converted by its field's
    constraint: strings and numbers as their flag's text would be, lists
    comma-separated (``sizes = [784, 30, 10]``), booleans for switches.
    Errors name ``source`` and the key."""
    out = {}
    for name, value in doc.items():
        f = check_option(name, source)
        constraint = f.metadata["constraint"]
        if isinstance(value, dict):
            raise ConfigError(f"{source}: {name} takes a single value, not a table")
        if isinstance(constraint, Flag) != isinstance(value, bool):
            if isinstance(constraint, Flag):
                raise ConfigError(f"{source}: {name} is a switch; give true or false, "
                                  f"not {value!r}")
            raise ConfigError(f"{source}: {name} takes a value, not {str(value).lower()}")
        if f.metadata["group"]:
            clash = [n for n in out if _fields()[n.replace("_", "-")].metadata["group"]
                     == f.metadata["group"]]
            if clash:
                raise ConfigError(f"{source}: give {clash[0].replace('_', '-')} or {name}, "
                                  "not both")
        out[f.name] = constraint.convert(value, f"{source}: {name}")
    return out


def merge_settings(earlier, later):
    """``earlier`` updated by ``later``; a later option also drops the
    earlier ones it excludes (``lmbda-per-example`` drops ``lmbda``)."""
    groups = {f.name: f.metadata["group"] for f in _fields().values()}
    merged = {k: v for k, v in earlier.items()
              if not any(groups[k] and groups[k] == groups[n] and n != k for n in later)}
    merged.update(later)
    return merged


def changed(config, base=None):
    """The options of ``config`` that differ from ``base`` (the defaults),
    as ``{flag name: value}``."""
    from .run import RunConfig
    base = base or RunConfig()
    return {f.name.replace("_", "-"): getattr(config, f.name) for f in fields(config)
            if getattr(config, f.name) != getattr(base, f.name)}


def to_argv(config, base=None):
    """The ``nndl train`` words for the options of ``config`` that differ
    from the defaults: ``--flag=text`` (once per item for a repeatable flag),
    ``--switch`` / ``--no-switch``."""
    argv = []
    for name, value in changed(config, base).items():
        constraint = _fields()[name].metadata["constraint"]
        if isinstance(constraint, Flag):
            argv.append(f"--{name}" if value else f"--no-{name}")
        elif isinstance(constraint, Repeated):
            argv.extend(f"--{name}={constraint.item.format(v)}" for v in value)
        elif value is not None:
            argv.append(f"--{name}={constraint.format(value)}")
    return argv


def to_toml(config, base=None):
    """The options of ``config`` that differ from the defaults, as a TOML
    file for ``nndl train --config``."""
    lines = []
    for name, value in changed(config, base).items():
        constraint = _fields()[name].metadata["constraint"]
        if value is None:
            continue
        if isinstance(constraint, Flag):
            text = "true" if value else "false"
        elif isinstance(constraint, Repeated):
            text = "[" + ", ".join(json.dumps(constraint.item.format(v)) for v in value) + "]"
        else:
            text = toml_value(constraint.format(value))
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def toml_value(text):
    """A command-line value as TOML: a number if it is one, else a string."""
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        if math.isfinite(number):
            return str(number)
    return json.dumps(text)


def preset_names():
    """The names of the presets shipped with nndl, sorted."""
    from importlib import resources
    return sorted(entry.name[:-len(".toml")]
                  for entry in resources.files(PRESETS_PACKAGE).iterdir()
                  if entry.name.endswith(".toml"))


def read_preset(name):
    """Return the settings of the preset ``name`` as a dict."""
    from importlib import resources
    if name not in preset_names():
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(preset_names())}")
    text = resources.files(PRESETS_PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)
