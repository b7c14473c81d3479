"""Alembic migrations produce exactly the schema that storeflow.warehouse.schema declares."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storeflow.warehouse.db import migrate
from storeflow.warehouse.schema import metadata


def test_migrations_match_schema(warehouse):
    with warehouse.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == [], "schema.py and the migrations differ: run scripts/regen_migration.py (pre-release)"


def test_migrate_is_idempotent(warehouse):
    migrate(warehouse)
    migrate(warehouse)
