"""``python -m storeflow.warehouse [migrate|revision]``: bring the warehouse schema to the newest revision.

The warehouse URL comes from ``--url``, else ``STOREFLOW_WAREHOUSE_URL``, else the embedded SQLite file.
The compose init service, the launcher and CI run this once; tasks then only check the revision.
"""

from __future__ import annotations

import argparse
import sys

from storeflow.warehouse.db import current_revision, head_revision, make_engine, migrate


def main(argv: list[str] | None = None, prog: str = "python -m storeflow.warehouse") -> int:
    """Run the command; exit code 0 when the schema is (now) at the newest revision."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["migrate", "revision"], nargs="?", default="migrate")
    parser.add_argument("--url", help="SQLAlchemy URL of the warehouse (default: settings)")
    args = parser.parse_args(argv)
    engine = make_engine(args.url)
    try:
        if args.command == "migrate":
            migrate(engine)
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    print(f"warehouse {engine.url.render_as_string(hide_password=True)}: revision {current} (newest {head})")
    return 0 if current == head else 1


if __name__ == "__main__":
    sys.exit(main())
