"""Development helper: regenerate the initial Alembic migration from storeflow.warehouse.schema.

Only valid while no warehouse has been deployed with an older 0001 (pre-release). After the first
release, add new revisions with ``alembic revision --autogenerate`` instead.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from alembic import command

from storeflow.warehouse.db import MIGRATIONS_DIR, alembic_config, make_engine


def main() -> None:
    """Delete versions/0001_*.py and autogenerate it again against an empty SQLite database."""
    for old in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'empty.db'}")
        command.revision(alembic_config(engine), message="initial warehouse schema", autogenerate=True,
                         rev_id="0001")
    for new in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
        text = re.sub(r"Create Date: .*", "Create Date: (generated)", new.read_text())
        # autogenerate renders partial-index predicates as plain strings; they must be SQL text
        text = re.sub(r"(postgresql_where|sqlite_where)='([^']*)'", r"\1=sa.text('\2')", text)
        new.write_text(text.replace("Revises: \n", "Revises:\n"))


if __name__ == "__main__":
    main()
