"""JSON: World and Truth to and from JSON."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storeflow_simulators import world as w
from storeflow_simulators.seed.assemble import _gc_paused

_SCALAR = (str, int, float, bool, type(None))


def _enc(obj: Any) -> Any:
    if isinstance(obj, _SCALAR):
        return obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, list | tuple):
        return [v if isinstance(v, _SCALAR) else _enc(v) for v in obj]
    if isinstance(obj, dict):
        return {k: v if isinstance(v, _SCALAR) else _enc(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        return {k: v if isinstance(v, _SCALAR) else _enc(v) for k, v in vars(obj).items()}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _pdt(v: str | None) -> datetime | None:
    if v is None:
        return None
    d = datetime.fromisoformat(v)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _dec(cls: type, d: dict[str, Any], **override: Any) -> Any:
    names = {f.name for f in fields(cls)}
    kw = {k: v for k, v in d.items() if k in names}
    kw.update(override)
    return cls(**kw)


def _truth_from_json(d: dict[str, Any]) -> w.Truth:
    return _dec(w.Truth, d, duplicate_pairs=[tuple(p) for p in d["duplicate_pairs"]])


def world_to_json(world: w.World) -> dict[str, Any]:
    """JSON-ready dict of ``world`` (datetimes as ISO 8601 strings with offset)."""
    with _gc_paused():
        return _enc(world)


def world_from_json(d: dict[str, Any]) -> w.World:
    """Inverse of :func:`world_to_json`."""
    with _gc_paused():
        return _world_from_json(d)


def _world_from_json(d: dict[str, Any]) -> w.World:
    def src(c: dict[str, Any]) -> w.SourceCustomer:
        return _dec(w.SourceCustomer, c, created_at=_pdt(c["created_at"]), updated_at=_pdt(c["updated_at"]))

    return _dec(
        w.World,
        d,
        now=_pdt(d["now"]),
        locations=[_dec(w.Location, x) for x in d["locations"]],
        categories=list(d["categories"]),
        products=[
            _dec(w.Product, p, variations=[_dec(w.Variation, v) for v in p["variations"]]) for p in d["products"]
        ],
        stock=[_dec(w.StockCount, s) for s in d["stock"]],
        people=[_dec(w.Person, p, first_seen=_pdt(p.get("first_seen"))) for p in d["people"]],
        pos_customers=[src(c) for c in d["pos_customers"]],
        store_customers=[src(c) for c in d["store_customers"]],
        orders=[
            _dec(w.Order, o, created_at=_pdt(o["created_at"]), lines=[_dec(w.OrderLine, ln) for ln in o["lines"]])
            for o in d["orders"]
        ],
        truth=_truth_from_json(d["truth"]),
    )


def write_truth(world: w.World, path: str | Path) -> Path:
    """Write ``world.truth`` as JSON to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_enc(world.truth), ensure_ascii=False), encoding="utf-8")
    return path


def read_truth(path: str | Path) -> w.Truth:
    """Read a truth file written by :func:`write_truth`."""
    return _truth_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
