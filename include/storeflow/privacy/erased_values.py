"""For loaders: which source ids / emails belong to erased people, so they are not imported again.

The POS and the store keep the person's records (storeflow's opt-out even bumps their ``updated_at``),
so a later extract reads them again; :func:`erased_values` is the one lookup sync uses to drop them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from sqlalchemy import Connection, inspect, select

from storeflow.privacy.scrub import SECRET_ENV, keyed_hash, pseudonym_secret
from storeflow.warehouse import schema as S
from storeflow.warehouse.chunks import chunked


def erased_values(conn: Connection, kind: str, values: Iterable[str],
                  secret: bytes | None = None) -> set[str]:
    """The ``values`` (source ids for kind ``pos``/``store``, or ``email``) that belong to erased people.

    The POS and the store keep their records (and storeflow's opt-out bumps their ``updated_at``), so the
    next extract reads them again: loaders should drop these records (and not land them) so an erased
    person does not come back. Without ``STOREFLOW_PSEUDONYM_SECRET`` nothing can have been erased.
    """
    values = [str(v) for v in values if v is not None and str(v) != ""]
    if not values or "erased_subjects" not in set(inspect(conn).get_table_names()):
        return set()
    if secret is None:
        if not os.environ.get(SECRET_ENV):
            return set()
        secret = pseudonym_secret()
    def norm(value: str) -> str:
        return value.strip().lower() if kind == "email" else value

    by_hash = {keyed_hash(kind, norm(v), secret): v for v in values}
    found: set[str] = set()
    for chunk in chunked(sorted(by_hash)):
        found |= {by_hash[h] for (h,) in conn.execute(select(S.erased_subjects.c.key_hash).where(
            S.erased_subjects.c.key_hash.in_(chunk)))}
    return found
