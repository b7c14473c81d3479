"""``python -m storeflow.privacy erase|export (--customer-id ID | --email E) [--dry-run]``."""

import sys

from storeflow.privacy.cli import main

sys.exit(main())
