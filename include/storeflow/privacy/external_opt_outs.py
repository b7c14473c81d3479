"""The opt-out recorded in the POS and the store (they keep the person's records: nothing is deleted there).

POS: ``sms_opt_out: yes`` and ``email_opt_out: yes`` note lines (Square's API cannot write
``preferences``). Store: ``storeflow_email_optout`` / ``storeflow_sms_optout`` customer meta, read back
after the write (WooCommerce silently drops ``_``-prefixed meta).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from storeflow.privacy.scrub import Subject
from storeflow.privacy.warehouse_rows import CHANNELS

if TYPE_CHECKING:
    from storeflow.connectors.square import SquareClient
    from storeflow.connectors.woocommerce import WooClient


def _store_opt_out(store: WooClient, customer_id: str, now: datetime) -> bool:
    from storeflow.connectors.woocommerce_models import Customer

    current = Customer.model_validate(store.call("GET", f"/customers/{int(customer_id)}"))
    missing = [ch for ch in CHANNELS if (current.stored_consent(ch) or (False, None))[0] is not True]
    if not missing:
        return False
    # writes storeflow_<channel>_optout and reads it back; ConsentNotStored on a mismatch
    store.set_customer_consents(int(customer_id), dict.fromkeys(missing, True), now)
    return True


def record_external_opt_outs(subject: Subject, pos: SquareClient | None, store: WooClient | None,
                             now: datetime) -> dict[str, object]:
    """Opt the person out of every channel in the POS and the store; counts and (pseudonymised) errors."""
    result: dict[str, object] = {}
    errors: list[str] = []
    if pos is None:
        result["pos"] = "skipped (no client)" if subject.pos_ids else "no record"
    else:
        done = 0
        for pid in sorted(subject.pos_ids):
            try:
                for channel in ("sms", "email"):
                    pos.set_opt_out(pid, channel, True)
                done += 1
            except Exception as exc:
                errors.append(f"pos:{subject.pseudo_source('pos', pid)}: {type(exc).__name__} "
                              f"{getattr(exc, 'status', '')}".strip())
        result["pos"] = {"records": len(subject.pos_ids), "opted_out": done}
    if store is None:
        result["store"] = "skipped (no client)" if subject.store_ids else "no record"
    else:
        done = 0
        for sid in sorted(subject.store_ids, key=lambda s: (len(s), s)):
            try:
                _store_opt_out(store, sid, now)
                done += 1
            except Exception as exc:
                errors.append(f"store:{subject.pseudo_source('store', sid)}: {type(exc).__name__} "
                              f"{getattr(exc, 'status', '')}".strip())
        result["store"] = {"records": len(subject.store_ids), "opted_out": done}
    if errors:
        result["errors"] = errors
    return result
