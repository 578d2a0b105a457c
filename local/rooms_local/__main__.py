"""`python -m rooms_local` is the `rooms-local` command."""

import sys

from .cli import main

if __name__ == "__main__":  # spawned Lambda processes import the parent's main module
    sys.exit(main())
