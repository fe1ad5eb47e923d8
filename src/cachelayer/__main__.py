"""``python -m cachelayer``: the same as the ``cachelayer`` command."""

import sys

from .cli import main

sys.exit(main())
