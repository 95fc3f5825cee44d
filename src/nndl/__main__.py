"""``python -m nndl ...``: the same as the ``nndl`` command."""

import sys

from nndl.cli import main

if __name__ == "__main__":
    sys.exit(main())
