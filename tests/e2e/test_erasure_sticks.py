"""An erased customer does not come back with the next extract (the POS and store keep their records)."""

from __future__ import annotations

import gzip

from sqlalchemy import select

from storeflow.warehouse.schema import customer_identities, customers
from storeflow_simulators.cluster import EPHEMERAL_PORTS
from tests.e2e.pipeline import Pipeline


def test_erased_person_is_not_reloaded_nor_relanded(sqlite_warehouse, tmp_path, monkeypatch):
    from storeflow.privacy.erasure import erase_customer
    from storeflow_simulators.cluster import SimulatorCluster

    monkeypatch.setenv("STOREFLOW_PSEUDONYM_SECRET", "test-only-pseudonym-secret")
    with SimulatorCluster(seed=4, scale="tiny", ports=EPHEMERAL_PORTS) as sims:
        pipe = Pipeline(sqlite_warehouse, sims.pos_url, sims.store_url)
        pipe.extract("pos_customers", "store_customers", full=True)
        with sqlite_warehouse.connect() as conn:
            row = conn.execute(select(customers.c.customer_id, customers.c.email).where(
                customers.c.email.is_not(None)).order_by(customers.c.customer_id).limit(1)).one()
        report = erase_customer(sqlite_warehouse, pipe.landing, customer_id=row.customer_id, pos_client=pipe.pos,
                                store_client=pipe.store, requested_by="test")
        assert report.status == "erased"
        runs = pipe.extract("pos_customers", "store_customers", full=True)  # the systems still hold the person
        assert sum(r["rows_read"] for r in runs.values()) > 0
        with sqlite_warehouse.connect() as conn:
            emails = {e for (e,) in conn.execute(select(customers.c.email))} | {
                e for (e,) in conn.execute(select(customer_identities.c.email_norm))}
        assert row.email not in emails and row.email.lower() not in emails
        landed = b"".join(gzip.decompress(p.read_bytes()) for p in (tmp_path / "data" / "landing").rglob("*.gz"))
        assert row.email.encode() not in landed
