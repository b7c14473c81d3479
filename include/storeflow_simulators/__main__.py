"""``python -m storeflow_simulators``: run every simulator until SIGINT/SIGTERM.

Prints one line per server (URL and demo credentials), then ``simulators ready``. With ``--state FILE``
the state is loaded from FILE when it exists and saved to it on exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from storeflow_simulators.cluster import (
    COMPONENTS,
    DEFAULT_PORTS,
    DEFAULT_STORE_TIMEZONE,
    READY_LINE,
    SimulatorCluster,
)
from storeflow_simulators.credentials import (
    DEMO_POS_TOKEN,
    DEMO_SMS_SID,
    DEMO_SMS_TOKEN,
    DEMO_STORE_KEY,
    DEMO_STORE_SECRET,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m storeflow_simulators", description=__doc__)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    p.add_argument("--faults", type=float, default=0.0, help="fault rate per request (0..1)")
    p.add_argument("--host", default="127.0.0.1")
    for name, port in DEFAULT_PORTS.items():
        variable = f"STOREFLOW_SIM_{name.upper()}_PORT"
        p.add_argument(
            f"--{name.replace('_', '-')}-port",
            dest=f"{name}_port",
            type=int,
            default=int(os.environ.get(variable) or port),
            help=f"default {port} (env {variable}); 0 = ephemeral",
        )
    p.add_argument("--state", type=Path, default=None, help="load state from / save state to this JSON file")
    p.add_argument(
        "--components", default=",".join(COMPONENTS), help=f"comma-separated subset of {','.join(COMPONENTS)}"
    )
    env = os.environ.get
    p.add_argument("--store-https", action=argparse.BooleanOptionalAction,
                   default=env("STOREFLOW_SIM_STORE_HTTPS", "") in ("1", "true", "yes"),
                   help="serve the store over HTTPS with a self-signed certificate (env STOREFLOW_SIM_STORE_HTTPS)")
    p.add_argument("--store-behind-tls-proxy", action=argparse.BooleanOptionalAction,
                   default=env("STOREFLOW_SIM_STORE_BEHIND_TLS_PROXY", "") in ("1", "true", "yes"),
                   help="trust X-Forwarded-Proto: https (env STOREFLOW_SIM_STORE_BEHIND_TLS_PROXY)")
    p.add_argument("--store-timezone", default=env("STOREFLOW_SIM_STORE_TIMEZONE", DEFAULT_STORE_TIMEZONE),
                   help="site time zone of a new store (env STOREFLOW_SIM_STORE_TIMEZONE)")
    p.add_argument("--store-version", default=env("STOREFLOW_SIM_STORE_VERSION") or None,
                   help="emulated WooCommerce version, default 10.0.2 (env STOREFLOW_SIM_STORE_VERSION)")
    return p


def _endpoints(cluster: SimulatorCluster, faults: float) -> list[tuple[str, str]]:
    """(label, address and credentials) of every running component, for the start-up banner."""
    lines: list[tuple[str, str]] = []
    if cluster.pos_url:
        lines.append(("pos", f"{cluster.pos_url}  (Square contract; Bearer token {DEMO_POS_TOKEN})"))
    if cluster.store_url:
        auth = "Basic or OAuth 1.0a" if cluster.store_https else "OAuth 1.0a over HTTP"
        lines.append(("store", f"{cluster.store_url}  (WooCommerce contract; {auth}; key {DEMO_STORE_KEY} "
                               f"secret {DEMO_STORE_SECRET})"))
        if cluster.store_ca_file:
            lines.append(("store-ca", str(cluster.store_ca_file)))
    if cluster.sms_url:
        lines.append(("sms", f"{cluster.sms_url}  (Twilio contract; account {DEMO_SMS_SID} token {DEMO_SMS_TOKEN})"))
    if cluster.smtp_port:
        lines.append(("smtp", f"smtp://{cluster.smtp_host}:{cluster.smtp_port}  (no auth)"))
        lines.append(("smtp-api", f"{cluster.smtp_api_url}/api/messages"))
    if cluster.truth_path:
        lines.append(("truth", str(cluster.truth_path)))
    if faults:
        lines.append(("faults", f"rate {faults} (counters at <server>/_sim/faults)"))
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.faults <= 1:
        print("--faults must be between 0 and 1", file=sys.stderr)
        return 2
    components = [c.strip() for c in args.components.split(",") if c.strip()]
    cluster = SimulatorCluster(
        seed=args.seed,
        scale=args.scale,
        faults=args.faults,
        state_file=args.state,
        host=args.host,
        ports={name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS},
        components=components,
        store_https=args.store_https,
        store_behind_tls_proxy=args.store_behind_tls_proxy,
        store_timezone=args.store_timezone or None,
        store_version=args.store_version,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cluster.start()
    try:
        for label, text in _endpoints(cluster, args.faults):
            print(f"{label:<8} {text}", flush=True)
        print(READY_LINE, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        cluster.stop()
        if args.state:
            print(f"state saved to {args.state}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
