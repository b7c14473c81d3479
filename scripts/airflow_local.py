"""``make airflow``: storeflow in a local ``airflow standalone``, with the simulators and demo connections.

What it does, in order (paths are relative to the repository root, whatever the current directory):

1. starts the storeflow simulators (``python -m storeflow_simulators --scale small
   --state data/simulators/state.json``) in the background;
2. ``airflow db migrate`` in ``AIRFLOW_HOME=./.airflow``, then waits for the simulators' ``simulators ready``;
3. creates the pools ``pos_api`` (1 slot) and ``store_api`` (4 slots) (``airflow pools import``, i.e.
   ``airflow pools set`` for both in one CLI start);
4. creates the demo connections ``storeflow_pos``, ``storeflow_store`` and ``storeflow_sms`` in the
   metadata DB (``airflow connections import``, i.e. ``airflow connections add`` for all three in one CLI
   start), so they are visible under Admin > Connections; a connection that already exists is left
   alone. Credentials come from ``storeflow_simulators.credentials`` (they only open the simulators);
5. runs ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer) with ``dags/`` and
   ``plugins/``, no example DAGs, the UI on http://127.0.0.1:8080 (``AIRFLOW_PORT`` changes the port)
   and ``STOREFLOW_DATA_DIR=./data``; prints the UI address once ``/api/v2/monitor/health`` answers.

It also migrates the warehouse once and starts the public endpoints service (unsubscribe page, RFC 8058
one-click POST, webhooks) on ``ENDPOINTS_PORT`` (8727), which the unsubscribe links point at; without an
``AIRFLOW_CONN_STOREFLOW_ALERTS`` it starts a local Slack-webhook catcher so alerts are visible, and says
so. The local box runs the demo profile (``STOREFLOW_PROFILE=demo``) with the DAG chain unpaused, "Test
connection" enabled, and ``AIRFLOW__API__BASE_URL`` set to the UI's real address (alert links use it).
Simulator ports: ``STOREFLOW_SIM_<NAME>_PORT`` (e.g. ``STOREFLOW_SIM_POS_PORT=9701``).

Ctrl-C (or SIGTERM) stops standalone and all its components, then the endpoints and the simulators (which
save their state to ``data/simulators/state.json``, so the next start continues with the same shop), in
seconds.

Login: this is a local development box and the UI binds to 127.0.0.1 only, so by default the
SimpleAuthManager runs with ``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True``: no login page,
every visitor is admin. To try the login page, run with
``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False``: the user is ``admin`` and Airflow writes its
generated password to ``.airflow/simple_auth_manager_passwords.json.generated`` (the script prints the
path). Binding the UI to anything but loopback (``AIRFLOW__API__HOST``) always keeps the login.

``STOREFLOW_UNSUBSCRIBE_SECRET`` (signs unsubscribe links) is taken from the environment; when unset, a
random one is generated once and kept in ``.airflow/storeflow_unsubscribe_secret`` (mode 0600), so links
sent by an earlier session stay valid. ``AIRFLOW__CORE__PARALLELISM`` defaults to 8 here (LocalExecutor
forks one worker per slot), and tasks reach the execution API at ``http://127.0.0.1:<port>/execution/``.

    python scripts/airflow_local.py [--port 8080] [--home .airflow] [--data-dir data] [--no-simulators]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from airflow_env import ROOT, airflow_env

from storeflow_simulators.cluster import DEFAULT_PORTS, READY_LINE
from storeflow_simulators.credentials import (
    DEMO_POS_TOKEN,
    DEMO_SMS_SID,
    DEMO_SMS_TOKEN,
    DEMO_STORE_KEY,
    DEMO_STORE_SECRET,
)

SIMULATOR_START_TIMEOUT = 180.0
STOP_GRACE = 10.0
POOLS: dict[str, dict] = {
    "pos_api": {"slots": 1, "description": "POS API: single writer per seller", "include_deferred": False},
    "store_api": {"slots": 4, "description": "Online store API", "include_deferred": False},
}
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
T0 = time.monotonic()


def say(msg: str) -> None:
    """One line of this script's own output."""
    print(f"storeflow  | {msg}", flush=True)


def local_airflow_env(home: Path, port: int, data_dir: Path) -> dict[str, str]:
    """The environment for every Airflow process started here (standalone and the CLI calls)."""
    env = airflow_env(home, {"AIRFLOW__API__PORT": str(port), "STOREFLOW_DATA_DIR": str(data_dir)})
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    # LocalExecutor forks one worker per parallelism slot (32 by default): too many for a laptop.
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "8")
    # Tasks reach the api-server's execution API here (the default assumes localhost:8080).
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{port}/execution/")
    if env["AIRFLOW__API__HOST"] in LOOPBACK:
        env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    else:
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
    env.setdefault("STOREFLOW_UNSUBSCRIBE_SECRET", unsubscribe_secret(home))
    # links in alerts and asset events point at this UI, not at a default localhost:8080
    ui_host = "127.0.0.1" if env["AIRFLOW__API__HOST"] in ("0.0.0.0", "::") else env["AIRFLOW__API__HOST"]  # noqa: S104
    env.setdefault("AIRFLOW__API__BASE_URL", f"http://{ui_host}:{port}")
    env.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")  # the "Test connection" button
    # the local box is the demo: simulators' demo credentials allowed, the DAG chain runs without unpausing
    env.setdefault("STOREFLOW_PROFILE", "demo")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    return env


def unsubscribe_secret(home: Path) -> str:
    """A random unsubscribe-link secret, created once per AIRFLOW_HOME and reused after."""
    path = home / "storeflow_unsubscribe_secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def demo_connections(urls: dict[str, str]) -> dict[str, dict]:
    """The demo connections to the simulators, as ``airflow connections import`` reads them."""
    return {
        "storeflow_pos": {"conn_type": "storeflow_pos", "host": urls["pos"], "password": DEMO_POS_TOKEN,
                          "description": "storeflow POS simulator (Square contract); demo token"},
        "storeflow_store": {"conn_type": "storeflow_store", "host": urls["store"], "login": DEMO_STORE_KEY,
                            "password": DEMO_STORE_SECRET,
                            "description": "storeflow store simulator (WooCommerce contract); demo key"},
        "storeflow_sms": {"conn_type": "http", "host": urls["sms"], "login": DEMO_SMS_SID,
                          "password": DEMO_SMS_TOKEN,
                          "description": "storeflow SMS gateway simulator (Twilio contract); demo sid"},
    }


def default_urls(host: str = "127.0.0.1") -> dict[str, str]:
    """Simulator base URLs on their ports (``STOREFLOW_SIM_<NAME>_PORT``, else the defaults)."""
    return {name: f"http://{host}:{os.environ.get(f'STOREFLOW_SIM_{name.upper()}_PORT') or DEFAULT_PORTS[name]}"
            for name in ("pos", "store", "sms")}


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen | None, name: str, first: int = signal.SIGTERM,
               grace: float = STOP_GRACE) -> None:
    """Stop ``proc`` and everything in its process group (it runs in its own session).

    Sends ``first``, then SIGTERM, then SIGKILL, each after the previous one had ``grace`` / 10 / 5 s to
    work. The group counts, not just the leader: a scheduler can outlive standalone while its executor
    waits for task processes.
    """
    if proc is None:
        return
    for sig, wait in ((first, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while True:
            proc.poll()  # reap the leader: a zombie still counts as a group member
            if not group_alive(proc.pid):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if sig != signal.SIGKILL:
            say(f"{name} (or a process it started) still running {wait:.0f} s after "
                f"{signal.Signals(sig).name}; escalating")
    if proc.poll() is None:
        proc.wait(timeout=5)


class Simulators:
    """The storeflow simulators as a background process group, their output echoed with a prefix."""

    def __init__(self, env: dict[str, str], state: Path):
        self.env = env
        self.state = state
        self.proc: subprocess.Popen | None = None
        self.urls = default_urls()
        self._ready = threading.Event()
        self._started = 0.0

    def start(self) -> None:
        """Start them in the background (own process group); see :meth:`wait_ready`."""
        self.state.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-u", "-m", "storeflow_simulators", "--scale", "small", "--state", str(self.state)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._started = time.monotonic()
        threading.Thread(target=self._pump, daemon=True).start()

    def wait_ready(self) -> None:
        """Wait for the ready line (SystemExit if they die or time out)."""
        assert self.proc is not None
        deadline = self._started + SIMULATOR_START_TIMEOUT
        while not self._ready.wait(0.2):
            if self.proc.poll() is not None:
                raise SystemExit(f"the simulators exited with code {self.proc.returncode} before they were "
                                 f"ready (ports {DEFAULT_PORTS} in use? see their output above)")
            if time.monotonic() > deadline:
                raise SystemExit(f"the simulators were not ready after {SIMULATOR_START_TIMEOUT:.0f} s")

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip()
            print(f"simulators | {line}", flush=True)
            parts = line.split()
            if len(parts) >= 2 and parts[0] in self.urls and parts[1].startswith("http"):
                self.urls[parts[0]] = parts[1]
            if line.strip() == READY_LINE:
                self._ready.set()

    def stop(self) -> None:
        """SIGTERM (they save their state), then SIGKILL if needed."""
        stop_group(self.proc, "simulators", grace=20.0)


class Endpoints:
    """storeflow's public endpoints service (unsubscribe page, one-click POST, webhooks) in the background."""

    def __init__(self, env: dict[str, str], port: int):
        self.env, self.port = env, port
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        """Migrate the warehouse once, then serve the endpoints; links in mails point here."""
        subprocess.run([sys.executable, "-m", "storeflow.warehouse", "migrate"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen([sys.executable, "-m", "storeflow.endpoints", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        say(f"public endpoints (unsubscribe, one-click, webhooks): {self.url}")

    def stop(self) -> None:
        stop_group(self.proc, "endpoints", grace=5.0)


def alert_catcher(env: dict[str, str]):
    """Without a configured ``storeflow_alerts``, a local Slack-webhook catcher so failures are visible."""
    if env.get("AIRFLOW_CONN_STOREFLOW_ALERTS"):
        say("alerting: Slack webhook from AIRFLOW_CONN_STOREFLOW_ALERTS")
        return None
    from storeflow_simulators.serve import serve_in_thread
    from storeflow_simulators.webhook_sink import create_webhook_app

    catcher = serve_in_thread(create_webhook_app())
    env["AIRFLOW_CONN_STOREFLOW_ALERTS"] = json.dumps({"conn_type": "http",
                                                       "password": f"{catcher.url}/hooks/storeflow-local"})
    say(f"alerting: Slack webhook → local catcher; received alerts at {catcher.url}/api/payloads "
        "(set AIRFLOW_CONN_STOREFLOW_ALERTS for a real channel)")
    return catcher


def run_cli(env: dict[str, str], *args: str) -> subprocess.Popen:
    """Start ``airflow <args>`` quietly (output captured)."""
    return subprocess.Popen(["airflow", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def check(proc: subprocess.Popen, what: str) -> str:
    """Wait for a CLI call; print its output and exit if it failed."""
    out, _ = proc.communicate()
    if proc.returncode != 0:
        print(out, file=sys.stderr)
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    return out


def migrate(env: dict[str, str], home: Path) -> None:
    """``airflow db migrate`` (creates or upgrades the metadata DB)."""
    say(f"airflow db migrate ({home})")
    check(run_cli(env, "db", "migrate"), "airflow db migrate")


def create_pools_and_connections(env: dict[str, str], home: Path, urls: dict[str, str]) -> None:
    """The pools and the demo connections (existing connections are kept)."""
    with tempfile.TemporaryDirectory(dir=home) as tmp:  # the connection file holds demo credentials
        os.chmod(tmp, 0o700)
        pools_file = Path(tmp) / "pools.json"
        conns_file = Path(tmp) / "connections.json"
        pools_file.write_text(json.dumps(POOLS), encoding="utf-8")
        conns_file.write_text(json.dumps(demo_connections(urls)), encoding="utf-8")
        pools = run_cli(env, "pools", "import", str(pools_file))
        conns = run_cli(env, "connections", "import", str(conns_file))
        check(pools, "airflow pools import")
        out = check(conns, "airflow connections import")
    say("pools: " + ", ".join(f"{name} ({spec['slots']} slots)" for name, spec in POOLS.items()))
    for line in out.splitlines():
        if line.startswith(("Imported connection", "Could not import connection")):
            say(line.replace("Could not import connection", "kept existing connection")
                .replace(": connection already exists.", ""))


def announce_when_healthy(url: str, proc: subprocess.Popen, env: dict[str, str], home: Path) -> None:
    """Poll the health endpoint; print where the UI is (and how to log in) once it answers."""
    health = f"{url}/api/v2/monitor/health"
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:  # noqa: S310 (fixed http URL)
                if resp.status == 200:
                    break
        except OSError:
            pass
        time.sleep(2)
    else:
        return
    say("")
    say(f"Airflow UI: {url}  (DAG list: {url}/dags; up {time.monotonic() - T0:.0f} s after start)")
    if env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"].lower() == "true":
        say("login: none (simple_auth_manager_all_admins=True; local dev only, bound to "
            f"{env['AIRFLOW__API__HOST']})")
    else:
        say(f"login: user admin, password in {home / PASSWORD_FILE}")
    if env.get("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "").lower() == "false":
        say("the DAG chain runs unpaused (local demo). Ctrl-C stops Airflow and the simulators.")
    else:
        say("new DAGs start paused: unpause them in the UI. Ctrl-C stops Airflow and the simulators.")
    say("")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/airflow_local.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT", "8080")),
                   help="UI/API port (default: env AIRFLOW_PORT or 8080)")
    p.add_argument("--home", type=Path, default=ROOT / ".airflow", help="AIRFLOW_HOME (default ./.airflow)")
    p.add_argument("--data-dir", type=Path, default=ROOT / "data", help="STOREFLOW_DATA_DIR (default ./data)")
    p.add_argument("--no-simulators", action="store_true",
                   help="do not start the simulators (e.g. they already run with `make sims`)")
    p.add_argument("--endpoints-port", type=int, default=int(os.environ.get("ENDPOINTS_PORT", "8727")),
                   help="port of the public endpoints service (default: env ENDPOINTS_PORT or 8727)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    home, data_dir = args.home.resolve(), args.data_dir.resolve()
    home.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = local_airflow_env(home, args.port, data_dir)
    host = env["AIRFLOW__API__HOST"]
    if port_in_use(args.port):
        raise SystemExit(f"port {args.port} is already in use; choose another with AIRFLOW_PORT=8081 make airflow")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A parent may have left SIGINT ignored (e.g. a `&` job of a script); standalone would inherit that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupted)
    sims: Simulators | None = None
    standalone: subprocess.Popen | None = None
    env.setdefault("STOREFLOW_UNSUBSCRIBE_BASE_URL", f"http://127.0.0.1:{args.endpoints_port}/u")
    endpoints = Endpoints(env, args.endpoints_port)
    catcher = alert_catcher(env)
    try:
        urls = default_urls()
        if not args.no_simulators:
            sims = Simulators(env, data_dir / "simulators" / "state.json")
            sims.start()
        migrate(env, home)  # meanwhile the simulators build or load their shop
        if sims is not None:
            sims.wait_ready()
            urls = sims.urls
        create_pools_and_connections(env, home, urls)
        endpoints.start()

        say(f"airflow standalone (AIRFLOW_HOME={home}, dags={ROOT / 'dags'})")
        # Own session: Ctrl-C reaches this script only, which then stops standalone's whole group in order.
        standalone = subprocess.Popen(["airflow", "standalone"], cwd=ROOT, env=env, start_new_session=True)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        ui = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{args.port}"  # noqa: S104
        threading.Thread(target=announce_when_healthy, args=(ui, standalone, env, home), daemon=True).start()
        while standalone.poll() is None and not stop.wait(0.5):
            pass
        if stop.is_set():
            say("stopping Airflow ...")
            return 0
        say(f"airflow standalone exited with code {standalone.returncode}")
        return standalone.returncode or 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        stopping = time.monotonic()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_group(standalone, "airflow standalone", first=signal.SIGINT)
        endpoints.stop()
        if catcher is not None:
            catcher.stop()
        if sims is not None:
            say("stopping the simulators")
            sims.stop()
        say(f"stopped ({time.monotonic() - stopping:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
