"""``python -m httpboot_harness`` is the ``httpboot-harness`` command."""

import sys

from .cli import main

sys.exit(main())
