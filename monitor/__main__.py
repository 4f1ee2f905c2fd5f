"""``python -m monitor`` is the ``vigia`` command."""

import sys

from monitor.cli import main

sys.exit(main())
