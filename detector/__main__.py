"""``python -m detector <subcommand>``: the same as the ``focaldet`` console script."""

import sys

from detector.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
