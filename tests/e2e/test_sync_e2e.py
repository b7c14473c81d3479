"""The syncs end to end over real HTTP on the simulators (issue: Sync DAGs)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from sqlalchemy import select

from storeflow.connectors.woocommerce_models import CONSENT_META
from storeflow.sync.order_movements import fulfilment_location
from storeflow.warehouse.schema import consents, customer_identities, products
from tests.e2e.pipeline import Pipeline


@pytest.fixture
def pipe(sims, warehouse) -> Pipeline:
    p = Pipeline(warehouse, sims.pos_url, sims.store_url)
    p.extract_all()
    p.sync_orders()  # go-live: earlier online orders are already in POS stock
    p.sync_catalog()
    return p


def _online_sku(p: Pipeline) -> tuple[str, str, int]:
    """A SKU sold online with stock: (sku, POS variation id, store stock)."""
    with p.engine.connect() as conn:
        row = conn.execute(
            select(products.c.sku, products.c.pos_variation_id, products.c.store_stock)
            .where(products.c.store_product_id.is_not(None), products.c.store_stock > 3,
                   products.c.is_deleted.is_(False))
            .order_by(products.c.sku).limit(1)
        ).one()
    return row.sku, row.pos_variation_id, row.store_stock


def _store(p: Pipeline, sku: str):
    return p.store.find_by_skus([sku])[sku]


def _pos_in_stock(p: Pipeline, variation_id: str, location: str) -> Decimal:
    counts = [c for page in p.pos.retrieve_inventory_counts(catalog_object_ids=[variation_id], location_ids=[location])
              for c in page if c["state"] == "IN_STOCK"]
    return sum((Decimal(c["quantity"]) for c in counts), Decimal(0))


def test_first_sync_is_quiet_when_systems_agree(pipe):
    again = pipe.sync_catalog()
    assert again.changed == 0 and again.requests == 0


def test_price_change_in_pos_reaches_store_after_one_sync(pipe, sims):
    sku, var_id, _ = _online_sku(pipe)
    new_price = _store(pipe, sku).regular_price_minor + 123
    requests.post(f"{sims.pos_url}/_sim/price", json={"variation_id": var_id, "amount": new_price},
                  timeout=5).raise_for_status()
    result = pipe.sync_catalog()
    assert _store(pipe, sku).regular_price_minor == new_price
    assert result.pushed == 1 and result.requests == result.minimum_requests == 1


def test_online_order_moves_pos_stock_exactly_once(pipe, sims):
    sku, var_id, _ = _online_sku(pipe)
    with pipe.engine.connect() as conn:
        location = fulfilment_location(conn)
    before = _pos_in_stock(pipe, var_id, location)
    order = requests.post(f"{sims.store_url}/_sim/orders",
                          json={"email": "shopper@example.com", "line_items": [{"sku": sku, "quantity": 2}]},
                          timeout=5)
    order.raise_for_status()
    order_id = str(order.json()["id"])
    first = pipe.sync_orders()
    second = pipe.sync_orders()
    assert first["adjustments"] == 1 and first["receipts"] == 1, first
    receipt = [o for page in pipe.pos.search_orders([location], None, None) for o in page
               if o.get("reference_id") == order_id]
    assert len(receipt) == 1 and receipt[0]["state"] == "COMPLETED"
    assert second["adjustments"] == 0 and second["receipts"] == 0
    assert _pos_in_stock(pipe, var_id, location) == before - 2
    changes = [c for page in pipe.pos.inventory_changes(reference_ids=[order_id]) for c in page]
    assert len(changes) == 1
    # the receipt echoed back by the POS extract is not loaded as an in-store sale
    with pipe.engine.connect() as conn:
        from storeflow.warehouse.schema import orders

        echoes = conn.execute(select(orders.c.order_id).where(orders.c.source_system == "pos",
                                                              orders.c.reference_id == order_id)).all()
    assert echoes == []


def test_cancelled_order_is_reversed_once(pipe, sims):
    sku, var_id, _ = _online_sku(pipe)
    with pipe.engine.connect() as conn:
        location = fulfilment_location(conn)
    before = _pos_in_stock(pipe, var_id, location)
    order = requests.post(f"{sims.store_url}/_sim/orders",
                          json={"email": "shopper@example.com", "line_items": [{"sku": sku, "quantity": 1}]},
                          timeout=5).json()
    pipe.sync_orders()
    assert _pos_in_stock(pipe, var_id, location) == before - 1
    pipe.store.update_order(int(order["id"]), {"status": "cancelled"})
    assert pipe.sync_orders()["reversals"] == 1
    assert pipe.sync_orders()["reversals"] == 0
    assert _pos_in_stock(pipe, var_id, location) == before


def test_in_store_sale_lowers_store_stock(pipe, sims):
    sku, var_id, store_stock = _online_sku(pipe)
    with pipe.engine.connect() as conn:
        location = fulfilment_location(conn)
    requests.post(f"{sims.pos_url}/_sim/sales", json={"location_id": location,
                                                      "lines": [{"variation_id": var_id, "quantity": 2}]},
                  timeout=5).raise_for_status()
    pipe.sync_catalog()
    assert _store(pipe, sku).stock_quantity == store_stock - 2


def test_store_email_change_reaches_pos(pipe, sims):
    with pipe.engine.connect() as conn:
        pair = conn.execute(
            select(customer_identities.c.customer_id, customer_identities.c.source_id)
            .where(customer_identities.c.source_system == "store", customer_identities.c.customer_id.in_(
                select(customer_identities.c.customer_id).where(customer_identities.c.source_system == "pos")))
            .order_by(customer_identities.c.source_id).limit(1)
        ).one()
        pos_id = conn.execute(select(customer_identities.c.source_id).where(
            customer_identities.c.customer_id == pair.customer_id, customer_identities.c.source_system == "pos")
        ).scalars().first()
    new_email = f"changed.{pair.source_id}@example.org"
    requests.put(f"{sims.store_url}/_sim/customers/{pair.source_id}/email", json={"email": new_email},
                 timeout=5).raise_for_status()
    pipe.sync_customers()
    assert pipe.pos.retrieve_customer(pos_id)["email_address"] == new_email


def test_pos_unsubscribe_reaches_store_and_warehouse(pipe, sims):
    with pipe.engine.connect() as conn:
        pair = conn.execute(
            select(customer_identities.c.customer_id, customer_identities.c.source_id)
            .where(customer_identities.c.source_system == "pos", customer_identities.c.customer_id.in_(
                select(customer_identities.c.customer_id).where(customer_identities.c.source_system == "store")))
            .order_by(customer_identities.c.source_id).limit(1)
        ).one()
        store_id = conn.execute(select(customer_identities.c.source_id).where(
            customer_identities.c.customer_id == pair.customer_id,
            customer_identities.c.source_system == "store")).scalars().first()
    requests.post(f"{sims.pos_url}/_sim/customers/{pair.source_id}/preferences",
                  json={"email_unsubscribed": True}, timeout=5).raise_for_status()
    pipe.sync_customers()
    with pipe.engine.connect() as conn:
        status = conn.execute(select(consents.c.status).where(
            consents.c.customer_id == pair.customer_id, consents.c.channel == "email")).scalar_one()
    assert status == "unsubscribed"
    customer = pipe.store.call("GET", f"/customers/{store_id}")
    meta = {m["key"]: m["value"] for m in customer["meta_data"]}
    assert meta[CONSENT_META["email"]]["optout"] is True  # storeflow_email_optout: "_" keys are dropped
