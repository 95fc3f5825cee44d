"""Parameter constraints, declared once and used everywhere.

In the manner of scikit-learn's ``utils._param_validation`` (``Interval(Real,
0, 1, closed="left")``, ``StrOptions({...})``), a constraint is a small object
that knows one range of legal values.  The same declaration

* checks a Python value: ``check(value, name)`` returns it normalised (a
  float, a tuple) or raises ``ConfigError`` naming the parameter, so the
  constructors (``SGD``, ``L2``, ``Dropout``, ...) and ``nndl.run.RunConfig``
  refuse the same values with the same words;
* parses a command-line string: ``parse(text)`` returns the value or raises
  ``ValueError`` with the reason, and ``argtype()`` wraps it as an argparse
  ``type`` so ``nndl train --eta 0`` says ``argument --eta: must be > 0, got
  0``;
* converts a value from a TOML file or a search space: ``convert(value)``
  parses a string and checks anything else.

``describe()`` is the range in words (``> 0``, ``in [0, 1)``), used in every
message.
"""

import argparse
import math
import numbers

import numpy as np

from .errors import ConfigError

_KINDS = {int: "an integer", float: "a number"}


class Constraint:
    """The interface: ``check``, ``parse``, ``convert``, ``argtype``, ``describe``."""

    choices = None        # a finite list of legal values, for argparse's ``choices``

    def check(self, value, name):
        """Return ``value`` normalised, or raise ConfigError naming ``name``."""
        raise NotImplementedError

    def parse(self, text):
        """Return the value a command-line string stands for, or raise ValueError."""
        raise NotImplementedError

    def describe(self):
        """The legal values, in words."""
        raise NotImplementedError

    def convert(self, value, name):
        """A value from a file or a search space, converted as its flag's text
        would be (numbers as written, lists comma-separated); ConfigError
        names ``name``."""
        text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) \
            else str(value)
        try:
            return self.parse(text)
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None

    def format(self, value):
        """The value as its flag's text: the inverse of ``parse``."""
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return str(value)

    def argtype(self):
        """An argparse ``type``: ``parse``, with ArgumentTypeError for a bad string."""
        def parse(text):
            try:
                return self.parse(text)
            except ValueError as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        parse.__doc__ = f"A value {self.describe()}."
        return parse


class Interval(Constraint):
    """A number of ``kind`` (int or float) between ``low`` and ``high``
    (None: unbounded), ``closed`` 'left', 'right', 'both' or 'neither'.

    Floats must be finite.  ``above`` explains why values at or past
    ``high`` are refused; it is added to the message only for them (so mu =
    -0.1 is not told that "with mu >= 1 nothing damps the velocity").
    """

    def __init__(self, kind, low, high, *, closed="left", above=None):
        if kind not in _KINDS or closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"bad Interval({kind!r}, closed={closed!r})")
        self.kind, self.low, self.high, self.closed, self.above = kind, low, high, closed, above

    def _low_ok(self, v):
        return self.low is None or (v >= self.low if self.closed in ("left", "both")
                                    else v > self.low)

    def _high_ok(self, v):
        return self.high is None or (v <= self.high if self.closed in ("right", "both")
                                     else v < self.high)

    def describe(self):
        """``> 0``, ``>= 1`` or ``in [0, 1)``."""
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.high is None:
            return f"{'>=' if left else '>'} {self.low:g}" if self.low is not None else "any"
        if self.low is None:
            return f"{'<=' if right else '<'} {self.high:g}"
        low, high = (f"{v:g}" if isinstance(v, float) else str(v) for v in (self.low, self.high))
        return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"

    def _why(self, v):
        return f": {self.above}" if self.above and not self._high_ok(v) else ""

    def parse(self, text):
        """'0.5' -> 0.5, refusing non-numbers, non-finite floats and values out of range."""
        try:
            value = self.kind(text)
        except ValueError:
            raise ValueError(f"expected {_KINDS[self.kind]}, got {text!r}") from None
        if self.kind is float and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {text!r}")
        if not (self._low_ok(value) and self._high_ok(value)):
            raise ValueError(f"must be {self.describe()}, got {text}{self._why(value)}")
        return value

    def check(self, value, name):
        """Return ``value`` as ``kind``, or raise ConfigError naming ``name``."""
        if self.kind is int:
            ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)
            what = "an integer "
        else:
            ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                  and math.isfinite(value))
            what = "a finite number " if self.high is None or self.low is None else ""
        if not ok or not (self._low_ok(value) and self._high_ok(value)):
            raise ConfigError(f"{name} must be {what}{self.describe()}, got {value!r}"
                              f"{self._why(value) if ok else ''}")
        return self.kind(value)


class Options(Constraint):
    """One of a fixed set of strings (scikit-learn's ``StrOptions``)."""

    def __init__(self, *choices):
        self.choices = list(choices)

    def describe(self):
        """'one of a, b, c'."""
        return "one of " + ", ".join(self.choices)

    def parse(self, text):
        """The string itself, if it is one of the choices."""
        if text not in self.choices:
            raise ValueError(f"invalid choice: {text!r} (choose from "
                             f"{', '.join(repr(c) for c in self.choices)})")
        return text

    def check(self, value, name):
        """Return ``value`` if it is one of the choices, else raise ConfigError."""
        if not isinstance(value, str) or value not in self.choices:
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")
        return value


class Text(Constraint):
    """Any string (a path, a dataset name, an expansion spec)."""

    def describe(self):
        """'a string'."""
        return "a string"

    def parse(self, text):
        """The text itself."""
        return text

    def check(self, value, name):
        """Return ``value`` if it is a string, else raise ConfigError."""
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value


class Flag(Constraint):
    """True or False (a switch on the command line)."""

    def describe(self):
        """'true or false'."""
        return "true or false"

    def parse(self, text):
        """'true' / 'false'."""
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError(f"expected true or false, got {text!r}")

    def check(self, value, name):
        """Return ``value`` if it is a bool, else raise ConfigError."""
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{name} is a switch; give true or false, not {value!r}")
        return bool(value)


class _IntList(Constraint):
    """A comma-separated list of integers, checked by ``_refuse``."""

    example = "1,2"
    what = "integers"

    def parse(self, text):
        """'784,30,10' -> (784, 30, 10)."""
        try:
            items = [int(s) for s in text.split(",")]
        except ValueError:
            raise ValueError(f"expected comma-separated {self.what} like {self.example}, "
                             f"got {text!r}") from None
        reason = self._refuse(items)
        if reason:
            raise ValueError(f"{reason}, got {text!r}")
        return tuple(items)

    def check(self, value, name):
        """Return a list or tuple of integers as a tuple, or raise ConfigError."""
        if (not isinstance(value, (list, tuple))
                or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                           for v in value)):
            raise ConfigError(f"{name} must be a list of {self.what} like "
                              f"{self.example}, got {value!r}")
        reason = self._refuse(list(value))
        if reason:
            raise ConfigError(f"{name}: {reason}, got {list(value)}")
        return tuple(int(v) for v in value)

    def _refuse(self, items):
        return None


class Sizes(_IntList):
    """Layer sizes, input first: at least two positive integers, and no more
    weights than ``nndl.network.MAX_PARAMETERS``."""

    example = "784,30,10"
    what = "layer sizes"

    def describe(self):
        """What layer sizes must be."""
        return "at least 2 positive layer sizes"

    def _refuse(self, items):
        if len(items) < 2 or min(items) < 1:
            return "need at least 2 positive layer sizes"
        return None

    def parse(self, text):
        """As for any list, then refuse sizes with too many weights."""
        return self._limit(super().parse(text), ValueError)

    def check(self, value, name):
        """As for any list, then refuse sizes with too many weights."""
        return self._limit(super().check(value, name), ConfigError)

    @staticmethod
    def _limit(sizes, error):
        from .network import check_sizes
        try:
            return tuple(check_sizes(sizes))
        except ConfigError as e:
            raise error(str(e)) from None


class Labels(_IntList):
    """Class labels to keep (``--digits``): at least two distinct integers >= 0."""

    example = "0,1"
    what = "labels"

    def describe(self):
        """What a list of labels must be."""
        return "at least 2 distinct labels >= 0"

    def _refuse(self, items):
        if len(items) < 2 or len(set(items)) != len(items) or min(items) < 0:
            return "need at least 2 distinct labels >= 0"
        return None


class Subset(Constraint):
    """A comma-separated selection from a fixed list of names."""

    def __init__(self, *names):
        self.names = list(names)

    def describe(self):
        """'some of a, b, c'."""
        return "some of " + ", ".join(self.names)

    def parse(self, text):
        """'a,b' -> ('a', 'b'), refusing unknown names."""
        items = tuple(s for s in text.split(",") if s)
        for s in items:
            if s not in self.names:
                raise ValueError(f"unknown quantity {s!r}; choose from {', '.join(self.names)}")
        return items

    def check(self, value, name):
        """Return a list of names as a tuple, or raise ConfigError."""
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of names from {', '.join(self.names)}, "
                              f"got {value!r}")
        try:
            return self.parse(",".join(value))
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None


class Repeated(Constraint):
    """A flag that may be given several times: a tuple of ``item`` values."""

    def __init__(self, item):
        self.item = item

    def describe(self):
        """'a list of ...'."""
        return f"a list of values, each {self.item.describe()}"

    def parse(self, text):
        """One occurrence on the command line."""
        return self.item.parse(text)

    def convert(self, value, name):
        """A list from a file (a single value counts as one item)."""
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(self.item.convert(v, name) for v in items)

    def check(self, value, name):
        """Return a list of items as a tuple, or raise ConfigError."""
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return tuple(self.item.check(v, name) for v in value)


class Schedule(Constraint):
    """A learning-rate schedule: ``halve``, ``halve:N`` (N >= 1) or
    ``step:EPOCHS:FACTOR`` (EPOCHS >= 1, FACTOR > 0), as a tuple
    ('halve', N) or ('step', EPOCHS, FACTOR)."""

    MESSAGE = "expected halve, halve:N (N >= 1) or step:EPOCHS:FACTOR (e.g. step:10:0.5)"

    def describe(self):
        """What a schedule looks like."""
        return "halve, halve:N or step:EPOCHS:FACTOR"

    def parse(self, text):
        """'halve:5' -> ('halve', 5); 'step:10:0.5' -> ('step', 10, 0.5)."""
        parts = text.split(":")
        try:
            if parts[0] == "halve" and len(parts) <= 2:
                return self._valid(("halve", int(parts[1]) if len(parts) == 2 else 10))
            if parts[0] == "step" and len(parts) == 3:
                return self._valid(("step", int(parts[1]), float(parts[2])))
        except ValueError:
            pass
        raise ValueError(f"{self.MESSAGE}, got {text!r}")

    def format(self, value):
        """('halve', 10) -> 'halve:10'."""
        return ":".join(str(v) for v in value)

    @staticmethod
    def _valid(schedule):
        if schedule[1] >= 1 and (schedule[0] == "halve"
                                 or (0 < schedule[2] and math.isfinite(schedule[2]))):
            return schedule
        raise ValueError("out of range")

    def check(self, value, name):
        """Return ('halve', N) or ('step', EPOCHS, FACTOR), or raise ConfigError."""
        try:
            if isinstance(value, (list, tuple)) and value and value[0] in ("halve", "step"):
                kinds = (str, int) if value[0] == "halve" else (str, int, float)
                if len(value) == len(kinds) and not any(isinstance(v, bool) for v in value):
                    return self._valid(tuple(k(v) for k, v in zip(kinds, value)))
        except (ValueError, TypeError):
            pass
        raise ConfigError(f"{name}: {self.MESSAGE}, got {value!r}")


class GainRule(Constraint):
    """The gain-rate stopping rule ``WINDOW:GAIN``: WINDOW >= 1 epochs and a
    GAIN fraction in [0, 1), as a tuple (WINDOW, GAIN)."""

    MESSAGE = ("expected WINDOW:GAIN with WINDOW >= 1 and GAIN a fraction in [0, 1) "
               "(e.g. 5:0.002)")

    def describe(self):
        """What a rule looks like."""
        return "WINDOW:GAIN"

    def format(self, value):
        """(5, 0.002) -> '5:0.002'."""
        return ":".join(str(v) for v in value)

    @staticmethod
    def _valid(window, gain):
        if window >= 1 and 0 <= gain < 1:
            return (window, gain)
        raise ValueError("out of range")

    def parse(self, text):
        """'5:0.002' -> (5, 0.002)."""
        try:
            window, gain = text.split(":")
            return self._valid(int(window), float(gain))
        except ValueError:
            raise ValueError(f"{self.MESSAGE}, got {text!r}") from None

    def check(self, value, name):
        """Return (WINDOW, GAIN), or raise ConfigError."""
        try:
            window, gain = value
            if not isinstance(window, bool) and int(window) == window:
                return self._valid(int(window), float(gain))
        except (ValueError, TypeError):
            pass
        raise ConfigError(f"{name}: {self.MESSAGE}, got {value!r}")


# The ranges the chapter's hyper-parameters live in, declared once.
LEARNING_RATE = Interval(float, 0, None, closed="neither")
PENALTY = Interval(float, 0, None, closed="left")
MOMENTUM = Interval(float, 0, 1, closed="left", above="with mu >= 1 nothing damps the velocity")
PROBABILITY = Interval(float, 0, 1, closed="left")
POSITIVE = Interval(float, 0, None, closed="neither")
FRACTION = Interval(float, 0, 1, closed="left")
COUNT = Interval(int, 1, None, closed="left")
NONNEGATIVE_COUNT = Interval(int, 0, None, closed="left")
SAMPLER_SEED = Interval(int, 0, 2**32 - 1, closed="both")   # NumPy's legacy seeding, as Optuna's
