"""``python -m dermkit ...`` runs the command line exactly as ``dermkit ...`` does."""

import sys

from dermkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
