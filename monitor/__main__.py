"""``python -m monitor`` is the ``vigia`` command."""

import sys

from monitor.cli import main

if __name__ == "__main__":  # not when a report's typesetting worker starts from it
    sys.exit(main())
