"""``nndl train`` options as data: TOML files and generated command lines.

A config file (``nndl train --config FILE``) and a search trial both describe
a training run as a mapping from ``nndl train`` flag names (without the
leading ``--``) to values.  Instead of a second, hand-kept list of options,
the mapping is turned back into a command line and handed to the train
parser itself, so every flag ``nndl train`` accepts -- today's and any added
later -- works in a file or a search space, with the same checks and the same
error messages.
"""

import argparse
import difflib
import sys

from .errors import ConfigError

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
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None


def option_actions(parser):
    """Map each long flag of ``parser`` (without '--') to its argparse action."""
    actions = {}
    for action in parser._actions:      # argparse's documented-in-practice action list
        for flag in action.option_strings:
            if flag.startswith("--"):
                actions[flag[2:]] = action
    return actions


def check_option(name, actions, source):
    """Raise ConfigError unless ``name`` is a settable flag of the parser."""
    if name in actions and name not in NOT_SETTABLE:
        return actions[name]
    close = difflib.get_close_matches(name, [a for a in actions if a not in NOT_SETTABLE], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"{source}: unknown option {name!r}: not an 'nndl train' flag{hint}")


def to_argv(settings, parser, source):
    """Turn ``{flag: value}`` into command-line words the parser understands.

    Strings and numbers become ``--flag=value``; lists become comma-separated
    (``sizes = [784, 30, 10]``); booleans switch flags that take no value
    (``true`` gives ``--flag``).  Unknown names raise ConfigError naming
    ``source``.
    """
    actions = option_actions(parser)
    argv = []
    for name, value in settings.items():
        action = check_option(name, actions, source)
        argv.extend(_words(name, value, action, source))
    return argv


def _words(name, value, action, source):
    """The command-line words for one setting."""
    if action.nargs == 0:                       # a switch: store_true, store_false, ...
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {name} is a switch; give true or false, not {value!r}")
        if isinstance(action, argparse.BooleanOptionalAction):
            return [f"--{name}" if value else f"--no-{name}"]
        return [f"--{name}"] if value == action.const else []
    if isinstance(value, bool):
        raise ConfigError(f"{source}: {name} takes a value, not {str(value).lower()}")
    if isinstance(value, list) and isinstance(action, argparse._AppendAction):
        return [f"--{name}={v}" for v in value]     # a repeatable flag: once per item
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    elif isinstance(value, dict):
        raise ConfigError(f"{source}: {name} takes a single value, not a table")
    return [f"--{name}={value}"]


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


def with_settings(argv, command, parser, preset=None, config=None):
    """Return ``argv`` with the settings of the ``preset`` and then of the
    TOML file ``config`` inserted right after ``command``: flags given on the
    command line (which come later) override the file's, and the file's
    override the preset's."""
    inserted = []
    if preset:
        inserted += to_argv(read_preset(preset), parser, f"preset {preset}")
    if config:
        inserted += to_argv(read_toml(config), parser, config)
    at = argv.index(command) + 1
    return argv[:at] + inserted + argv[at:]

