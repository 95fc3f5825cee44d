"""The exceptions nndl raises.

Every error that bad input can cause is one of these, so that callers (and the
command line, which turns them into a one-line message and exit code 2) can
tell a user's mistake from a bug.
"""


class NNDLError(Exception):
    """Base class of every error nndl raises on purpose."""


class ConfigError(NNDLError, ValueError):
    """A hyper-parameter or option has a value that cannot work."""


class DataError(NNDLError, ValueError):
    """A dataset is missing, malformed, or does not match the network."""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the one it must have."""


class FetchError(DataError):
    """No source could provide a dataset; the message lists every source tried."""


class ModelFileError(NNDLError, ValueError):
    """A saved model file is malformed; the message names what is wrong."""


class ImageError(NNDLError, ValueError):
    """An image file cannot be read or is unsafe to decode."""


class CheckpointError(NNDLError, ValueError):
    """A training checkpoint is missing, malformed, or does not fit this run."""


class DivergenceError(NNDLError, ArithmeticError):
    """Training produced a NaN or infinite cost or parameter; it was stopped.

    The command line exits with status 3 for this error (2 for the others),
    so that scripts can tell a bad hyper-parameter from a bad input.
    """


class OutputError(NNDLError, OSError):
    """An output file cannot be written where asked: its folder is missing or
    not writable, the path names a device, FIFO, socket or directory, or the
    write itself failed (a full disk).  The message names the path the user
    gave, never a temporary file's; ``errno`` is kept when there is one."""
