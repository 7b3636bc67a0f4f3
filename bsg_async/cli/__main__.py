"""``python -m bsg_async.cli`` runs the ``bsg-async`` command."""

import sys

from bsg_async.cli import main

sys.exit(main())
