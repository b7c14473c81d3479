"""Identity resolution, survivorship, merge log and undo on a real warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from storeflow.quality.identity import MergeNotFound, customer_id_for, resolve_customers, undo_merge
from storeflow.quality.records import clean_customer
from storeflow.warehouse.schema import (
    consents,
    customer_identities,
    customer_merges,
    customers,
    metadata,
    orders,
    possible_duplicates,
)


@pytest.fixture
def wh(warehouse):
    """The warehouse plus the quality tables (until the lead regenerates the migrations)."""
    metadata.create_all(warehouse, tables=[metadata.tables[t] for t in
                                           ("customer_merges", "possible_duplicates", "identity_consents")])
    return warehouse


def T(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 5, day, hour, tzinfo=UTC)


def clean(records):
    out = []
    for r in records:
        res = clean_customer(r, "GB")
        assert res.ok, res.issues
        out.append(res.record)
    return out


POS = [
    {"source_id": "P1", "email": "Jane.Doe@Example.com", "phone": "07700 900001", "given_name": "Jane",
     "family_name": "Doe", "address_line1": "12 High Street", "city": "London", "postcode": "SW1A 1AA",
     "country": "GB", "updated_at": T(1),
     "consents": [{"channel": "email", "status": "subscribed", "changed_at": T(1)}]},
    {"source_id": "P2", "email": None, "phone": "+44 7700 900002", "given_name": "Tom", "family_name": "Baker",
     "address_line1": "1 Mill Lane", "city": "Leeds", "postcode": "LS1 4AP", "country": "GB", "updated_at": T(1)},
    {"source_id": "P3", "email": "sam@example.org", "phone": None, "given_name": "Samantha", "family_name": "Jones",
     "address_line1": "5 Park Road", "city": "York", "postcode": "YO1 7HH", "country": "GB", "updated_at": T(1)},
    {"source_id": "P4", "email": "ann@example.org", "phone": "07700 900004", "given_name": "Ann",
     "family_name": "Lee", "address_line1": "9 Hill Rise", "city": "Bath", "postcode": "BA1 1AA",
     "country": "GB", "updated_at": T(1)},
    {"source_id": "P5", "email": "pat@example.org", "phone": None, "given_name": "Patrick", "family_name": "Moore",
     "address_line1": "7 Elm Close", "city": "Hull", "postcode": "HU1 1AA", "country": "GB", "updated_at": T(1)},
]
STORE = [
    # deterministic: same email (other case), newer record -> its newer fields win, consent opt-out is newer
    {"source_id": "101", "email": " jane.doe@example.COM", "phone": None, "given_name": "JANE", "family_name": "DOE",
     "address_line1": "12 High St", "city": "London", "postcode": "sw1a1aa", "country": "United Kingdom",
     "updated_at": T(5), "consents": [{"channel": "email", "status": "unsubscribed", "changed_at": T(5)}]},
    # deterministic: same phone, different format
    {"source_id": "102", "email": "tom.b@example.net", "phone": "07700900002", "given_name": "tom",
     "family_name": "baker", "address_line1": "1 Mill Lane", "city": "Leeds", "postcode": "LS1 4AP", "country": "uk",
     "updated_at": T(2)},
    # fuzzy: no shared key, swapped/abbreviated name variant, same postcode + address -> merge
    {"source_id": "103", "email": "sjones@example.net", "phone": None, "given_name": "Jones", "family_name": "Samantha",
     "address_line1": "5 Park Rd", "city": "York", "postcode": "YO17HH", "country": "GB", "updated_at": T(3)},
    # same phone but a clearly different name: shared number -> no merge, report
    {"source_id": "104", "email": "mike@example.net", "phone": "07700 900004", "given_name": "Michael",
     "family_name": "Grant", "address_line1": "2 Other Way", "city": "Bath", "postcode": "BA2 2BB", "country": "GB",
     "updated_at": T(2)},
    # below threshold: same postcode and address, only a similar name ("Pat"/"Patrick") -> possible duplicate
    {"source_id": "105", "email": "p.moore@example.net", "phone": None, "given_name": "Pat", "family_name": "Moore",
     "address_line1": "7 Elm Close", "city": "Hull", "postcode": "HU1 1AA", "country": "GB", "updated_at": T(2)},
]


def _resolve(wh, system, records, run_id="r1"):
    with wh.begin() as conn:
        return resolve_customers(conn, clean(records), source_system=system, run_id=run_id)


def _cust_of(conn, system, sid):
    return conn.execute(select(customer_identities.c.customer_id).where(
        customer_identities.c.source_system == system, customer_identities.c.source_id == sid)).scalar_one()


def test_resolution_rules_survivorship_consent_and_undo(wh):
    rep1 = _resolve(wh, "pos", POS)
    assert rep1.new_customers == 5 and rep1.merges_by_rule == {}
    with wh.begin() as conn:  # an order of store customer 101 loaded before customers were resolved
        conn.execute(insert(orders), [{"source_system": "store", "order_id": "O1", "customer_source_id": "101",
                                       "channel": "online", "status": "completed", "created_at": T(4),
                                       "loaded_at": T(4)}])
    rep2 = _resolve(wh, "store", STORE, "r2")
    print(rep2.as_dict())
    assert rep2.merges_by_rule == {"email": 1, "phone": 1, "fuzzy_name_address": 1}
    assert rep2.new_customers == 2
    with wh.connect() as conn:
        jane = _cust_of(conn, "pos", "P1")
        assert _cust_of(conn, "store", "101") == jane == customer_id_for("pos", "P1")
        assert _cust_of(conn, "store", "102") == _cust_of(conn, "pos", "P2")
        assert _cust_of(conn, "store", "103") == _cust_of(conn, "pos", "P3")
        assert _cust_of(conn, "store", "104") != _cust_of(conn, "pos", "P4")
        assert _cust_of(conn, "store", "105") != _cust_of(conn, "pos", "P5")
        merges = {(r.source_id, r.rule): r for r in conn.execute(select(customer_merges))}
        assert set(merges) == {("101", "email"), ("102", "phone"), ("103", "fuzzy_name_address")}
        fuzzy = merges[("103", "fuzzy_name_address")]
        assert fuzzy.matched_source_id == "P3" and 0.92 <= fuzzy.confidence < 1.0
        dups = {(r.source_id, r.candidate_source_id): r for r in conn.execute(select(possible_duplicates))}
        assert set(dups) == {("104", "P4"), ("105", "P5")}
        assert dups[("104", "P4")].rule == "phone_name_conflict"
        assert dups[("105", "P5")].rule == "fuzzy_name_address" and 0.75 <= dups[("105", "P5")].confidence < 0.92
        golden = conn.execute(select(customers).where(customers.c.customer_id == jane)).one()
        # survivorship: store record (T5) is newer -> its cleaned values win; phone only in POS survives
        assert golden.email == "jane.doe@example.COM".replace("COM", "com")
        assert golden.address_line1 == "12 High St"
        assert golden.phone == "+447700900001"
        assert golden.field_updated_at["address_line1"]["source"] == "store:101"
        assert golden.field_updated_at["phone"]["source"] == "pos:P1"
        consent = conn.execute(select(consents).where(consents.c.customer_id == jane)).one()
        assert consent.status == "unsubscribed" and consent.source_system == "store"
        assert conn.execute(select(orders.c.customer_id)).scalar_one() == jane
        assert conn.execute(select(customers)).all().__len__() == 7

    # undo the email merge: 101 gets its own golden record back, consent and order follow it
    with wh.begin() as conn:
        own = undo_merge(conn, merges[("101", "email")].merge_id, reason="test")
    assert own == customer_id_for("store", "101")
    with wh.connect() as conn:
        assert _cust_of(conn, "store", "101") == own
        golden = conn.execute(select(customers).where(customers.c.customer_id == jane)).one()
        assert golden.address_line1 == "12 High Street" and golden.email == "Jane.Doe@example.com"
        assert conn.execute(select(consents.c.status)
                            .where(consents.c.customer_id == jane)).scalar_one() == "subscribed"
        assert conn.execute(select(consents.c.status)
                            .where(consents.c.customer_id == own)).scalar_one() == "unsubscribed"
        assert conn.execute(select(orders.c.customer_id)).scalar_one() == own
        assert conn.execute(select(customer_merges.c.undone_at).where(
            customer_merges.c.merge_id == merges[("101", "email")].merge_id)).scalar_one() is not None
    with wh.begin() as conn, pytest.raises(MergeNotFound):
        undo_merge(conn, merges[("101", "email")].merge_id)

    # a later sync of the same records changes nothing: no new merges, the undone pair is not re-merged
    rep3 = _resolve(wh, "store", STORE, "r3")
    assert rep3.new_identities == 0 and rep3.merges_by_rule == {}
    with wh.connect() as conn:
        assert _cust_of(conn, "store", "101") == own
        assert len(conn.execute(select(customer_merges)).all()) == 3


def test_threshold_setting_controls_fuzzy_merge(wh, monkeypatch):
    monkeypatch.setenv("STOREFLOW_FUZZY_MATCH_THRESHOLD", "0.80")
    from storeflow.settings import get_settings

    get_settings.cache_clear()
    _resolve(wh, "pos", POS)
    rep = _resolve(wh, "store", STORE)
    # at 0.80 "Pat Moore" at the same address merges with "Patrick Moore" too
    assert rep.merges_by_rule.get("fuzzy_name_address") == 2


def test_consent_recorded_by_other_flows_is_respected(wh):
    rec = {**POS[0], "consents": [{"channel": "email", "status": "subscribed", "changed_at": T(1)}]}
    _resolve(wh, "pos", [rec])
    cid = customer_id_for("pos", "P1")
    with wh.begin() as conn:  # e.g. the campaign unsubscribe link, written straight onto the golden record
        conn.execute(consents.update().where(consents.c.customer_id == cid, consents.c.channel == "email")
                     .values(status="unsubscribed", changed_at=T(10), source_system="storeflow",
                             reason="unsubscribe link"))
    _resolve(wh, "pos", [{**rec, "updated_at": T(11)}])  # same old choice again: the newer opt-out stays
    with wh.connect() as conn:
        row = conn.execute(select(consents).where(consents.c.customer_id == cid)).one()
    assert (row.status, row.reason) == ("unsubscribed", "unsubscribe link")
    newer = {**rec, "consents": [{"channel": "email", "status": "subscribed", "changed_at": T(12)}]}
    _resolve(wh, "pos", [newer])  # a newer explicit opt-in at the source wins
    with wh.connect() as conn:
        row = conn.execute(select(consents).where(consents.c.customer_id == cid)).one()
    assert row.status == "subscribed" and row.changed_at == T(12)
