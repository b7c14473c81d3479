"""Stable hashes for partitions and deterministic per-customer draws (independent of PYTHONHASHSEED)."""

from __future__ import annotations

import hashlib


def stable_hash(*parts: object) -> int:
    """64-bit unsigned hash of the parts joined by ``|``."""
    data = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def partition_of(customer_id: str, n_partitions: int) -> int:
    """The scoring partition of a customer: ``stable_hash(customer_id) % n_partitions``."""
    return stable_hash(customer_id) % n_partitions


def uniform(*parts: object) -> float:
    """A deterministic draw in [0, 1) from the parts."""
    return stable_hash(*parts) / 2.0**64
