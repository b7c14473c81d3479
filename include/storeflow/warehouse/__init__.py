"""Warehouse: schema, engine, migrations, bulk upsert, cursors and run records."""
