"""Development helper: vendor the part of Square's OpenAPI spec that the POS simulator serves.

Reads Square's published ``api.json`` (default: ``../shared/reference/square-openapi/api.json``),
keeps every operation the simulator routes under ``/v2`` plus the schemas they reach (descriptions
dropped) and writes ``include/storeflow_simulators/square_spec.json``. Run it again after adding a
route to the simulator or moving to a newer spec:

    .venv/bin/python scripts/vendor_square_spec.py [path/to/api.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from storeflow_simulators import pos_spec
from storeflow_simulators.pos import PosState, create_pos_app

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "square-openapi" / "api.json"
TARGET = ROOT / "include" / "storeflow_simulators" / pos_spec.SPEC_FILE


def simulator_operations(spec: dict) -> list[tuple[str, str]]:
    """(METHOD, spec path) of every simulator ``/v2`` route that the spec documents."""
    ops: list[tuple[str, str]] = []
    for route in create_pos_app(PosState()).routes:
        path = getattr(route, "path", "")
        if not path.startswith("/v2/"):
            continue
        for method in sorted(getattr(route, "methods", ()) or ()):
            if method in ("GET", "POST", "PUT", "DELETE") and method.lower() in spec["paths"].get(path, {}):
                ops.append((method, path))
            elif method in ("GET", "POST", "PUT", "DELETE"):
                # the simulator names path parameters like the spec; report what the spec lacks
                print(f"not in the spec: {method} {path}", file=sys.stderr)
    return sorted(set(ops))


def main(source: str | None = None) -> None:
    """Write the trimmed spec and print its size."""
    spec = json.loads(Path(source or DEFAULT_SOURCE).read_text(encoding="utf-8"))
    trimmed = pos_spec.trim_spec(spec, simulator_operations(spec))
    TARGET.write_text(json.dumps(trimmed, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{TARGET.relative_to(ROOT)}: {len(trimmed['paths'])} paths, "
          f"{len(trimmed['components']['schemas'])} schemas, {TARGET.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:2])
