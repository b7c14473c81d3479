"""Golden-record quality on the simulators' planted duplicates (the seed generator records the truth)."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from sqlalchemy import select

from storeflow.quality.identity import resolve_customers
from storeflow.quality.records import clean_customer
from storeflow.warehouse.schema import customer_identities, metadata

seed = pytest.importorskip("storeflow_simulators.seed")


def _record(c) -> dict:
    return {
        "source_id": c.source_id, "email": c.email, "phone": c.phone, "given_name": c.given_name,
        "family_name": c.family_name, "address_line1": c.address_line1, "city": c.city, "postcode": c.postcode,
        "country": c.country, "created_at": c.created_at, "updated_at": c.updated_at,
        "consents": [
            {"channel": "email", "status": "unsubscribed" if c.email_unsubscribed else "subscribed",
             "changed_at": c.updated_at},
            {"channel": "sms", "status": "unsubscribed" if c.sms_unsubscribed else "subscribed",
             "changed_at": c.updated_at},
        ],
    }


def _pairs(groups: dict[str, list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for keys in groups.values() for p in itertools.combinations(sorted(keys), 2)}


@pytest.mark.slow
def test_golden_record_precision_recall_on_planted_duplicates(sqlite_warehouse):
    engine = sqlite_warehouse
    metadata.create_all(engine, tables=[metadata.tables[t] for t in
                                        ("customer_merges", "possible_duplicates", "identity_consents")])
    world = seed.generate_world(11, "small")
    quarantined_fields = 0
    with engine.begin() as conn:
        for system, source in (("pos", world.pos_customers), ("store", world.store_customers)):
            cleaned = []
            for c in source:
                res = clean_customer(_record(c), "GB")
                assert res.ok, (c, res.errors)  # customers are never rejected whole for a bad field
                quarantined_fields += bool(res.quarantined)
                cleaned.append(res.record)
            resolve_customers(conn, cleaned, source_system=system, run_id="truth")
        rows = conn.execute(select(customer_identities.c.source_system, customer_identities.c.source_id,
                                   customer_identities.c.customer_id)).all()
    groups: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        groups[r.customer_id].append(f"{r.source_system}:{r.source_id}")
    predicted = _pairs(groups)
    truth = {frozenset(p) for p in world.truth.duplicate_pairs}
    hit = len(predicted & truth)
    precision = hit / len(predicted) if predicted else 1.0
    recall = hit / len(truth) if truth else 1.0
    print(f"\nidentity resolution on small world: records={len(rows)} truth_pairs={len(truth)} "
          f"predicted_pairs={len(predicted)} correct={hit} precision={precision:.4f} recall={recall:.4f} "
          f"records_with_quarantined_field={quarantined_fields}")
    assert precision >= 0.99
    assert recall >= 0.95
