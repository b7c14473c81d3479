"""Deterministic holdout buckets from a salted hash of the customer id.

``bucket(customer_id, scope)`` is SipHash-2-4 of the customer id keyed with ``BLAKE2b(salt | scope)``
(``pandas.util.hash_array``, vectorised in C; the top 53 bits scaled to [0, 1)). It is uniform on [0, 1)
and stable across processes and machines (not Python's randomised ``hash``). A customer is in the holdout of a
scope when ``bucket < share``: the global holdout (scope ``"global"``, share
``settings.global_holdout_share``) and one independent campaign holdout per campaign (scope = campaign
id, share = the campaign's ``holdout_share``, default ``settings.campaign_holdout_share``). Changing the
salt reshuffles everyone (do it deliberately, at most monthly); raising a share only adds members.
Assignments are also recorded in ``holdout_assignments`` for measurement and audit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from pandas.util import hash_array

GLOBAL_SCOPE = "global"
_SCALE = float(2**53)


def _hash_key(scope: str, salt: str) -> str:
    return hashlib.blake2b(f"{salt}|{scope}".encode(), digest_size=8).hexdigest()


def buckets(customer_ids: Iterable[str], scope: str, salt: str) -> np.ndarray:
    """Buckets in [0, 1) for many customers (vectorised keyed SipHash)."""
    if hasattr(customer_ids, "to_numpy"):
        customer_ids = customer_ids.to_numpy(dtype=object)
    if isinstance(customer_ids, np.ndarray):
        values = customer_ids.astype(str).astype(object)
    else:
        values = np.asarray([str(c) for c in customer_ids], dtype=object)
    if not len(values):
        return np.zeros(0)
    hashed = hash_array(values, hash_key=_hash_key(scope, salt), categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) / _SCALE


def bucket(customer_id: str, scope: str, salt: str) -> float:
    """The customer's position in [0, 1) for ``scope``."""
    return float(buckets(np.asarray([customer_id], dtype=object), scope, salt)[0])


def in_holdout(customer_id: str, scope: str, share: float, salt: str) -> bool:
    """True when the customer belongs to the holdout of ``scope``."""
    return bucket(customer_id, scope, salt) < share
