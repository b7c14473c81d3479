"""Every extractable stream by name (POS and store)."""

from __future__ import annotations

from storeflow.sync.streams import StreamSpec


def all_streams() -> dict[str, StreamSpec]:
    """Stream name → spec, for both systems."""
    from storeflow.sync.pos_streams import POS_STREAMS
    from storeflow.sync.store_streams import STORE_STREAMS

    return {**POS_STREAMS, **STORE_STREAMS}


def get_stream(name: str) -> StreamSpec:
    """The spec of stream ``name`` (KeyError lists the known names)."""
    streams = all_streams()
    if name not in streams:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(sorted(streams))}")
    return streams[name]
