"""Every extractable stream by name (POS and store)."""

from __future__ import annotations

from storeflow.sync.streams import StreamSpec


def all_streams() -> dict[str, StreamSpec]:
    """Stream name → spec, for both systems."""
    from dataclasses import replace

    from storeflow.sync.customer_sources import load_pos_customers, load_store_customers
    from storeflow.sync.pos_streams import POS_STREAMS
    from storeflow.sync.store_streams import STORE_STREAMS

    streams = {**POS_STREAMS, **STORE_STREAMS}
    # customers of both systems go through one cleaning / quarantine / identity-resolution path
    streams["pos_customers"] = replace(streams["pos_customers"], load=load_pos_customers, dq_suite="customers")
    streams["store_customers"] = replace(streams["store_customers"], load=load_store_customers,
                                         dq_suite="customers")
    return streams


def get_stream(name: str) -> StreamSpec:
    """The spec of stream ``name`` (KeyError lists the known names)."""
    streams = all_streams()
    if name not in streams:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(sorted(streams))}")
    return streams[name]
