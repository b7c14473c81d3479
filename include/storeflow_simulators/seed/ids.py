"""Square-like ids."""

from __future__ import annotations

import numpy as np

_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def _square_ids(rng: np.random.Generator, n: int, length: int = 26, prefix: str = "") -> list[str]:
    """``n`` distinct Square-like ids: ``prefix`` + uppercase alphanumerics."""
    if n == 0:
        return []
    codes = _ALNUM[rng.integers(0, len(_ALNUM), size=(n, length))]
    raw = np.ascontiguousarray(codes).view(f"S{length}").ravel()
    ids = [prefix + b.decode() for b in raw.tolist()]
    if len(set(ids)) != n:  # astronomically unlikely; keep deterministic anyway
        seen: set[str] = set()
        for i, v in enumerate(ids):
            while v in seen:
                v = prefix + bytes(_ALNUM[rng.integers(0, len(_ALNUM), size=length)]).decode()
            seen.add(v)
            ids[i] = v
    return ids
