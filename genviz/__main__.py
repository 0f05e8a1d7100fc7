"""`python -m genviz`: the `genviz` command (genviz.cli)."""

import sys

from genviz.cli import main

sys.exit(main())
