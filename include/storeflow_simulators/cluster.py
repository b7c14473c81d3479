"""Start all simulators together: POS (Square contract), store (WooCommerce contract), SMS (Twilio
contract) and the SMTP sink with its HTTP API.

>>> with SimulatorCluster(seed=42, scale="tiny", ports=EPHEMERAL_PORTS) as sims:   # doctest: +SKIP
...     os.environ.update(sims.env())

The store behaves like a real WooCommerce 10.0.2 (see :mod:`storeflow_simulators.store_state`): over plain
HTTP it only accepts OAuth 1.0a signatures. ``store_https=True`` serves it over HTTPS with a self-signed
certificate made at start-up in ``<data dir>/simulators/tls`` (clients pass :attr:`SimulatorCluster.
store_ca_file` as CA bundle; :meth:`SimulatorCluster.env` adds ``STOREFLOW_STORE_CA_BUNDLE``), where HTTP
Basic and query-string keys work too; ``store_behind_tls_proxy=True`` trusts ``X-Forwarded-Proto: https``.
The store's site time zone defaults to Europe/Paris (``store_timezone``; ``None`` keeps the World's) and its
version to 10.0.2 (``store_version``).

With ``state_file`` the simulators' state is saved on :meth:`SimulatorCluster.stop` and loaded instead of
generating a new world on the next start. The generator's truth (duplicate pairs, true purchase rates) is
written to ``truth.json`` beside the state file, or to ``$STOREFLOW_DATA_DIR/simulators/truth.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from storeflow.settings import get_settings
from storeflow_simulators.faults import FaultInjector
from storeflow_simulators.serve import ServerHandle, serve_in_thread
from storeflow_simulators.sms import SmsState, create_sms_app
from storeflow_simulators.smtp_sink import SmtpSink, SmtpState, create_smtp_api

#: the line `python -m storeflow_simulators` prints once every simulator answers (launchers wait for it)
READY_LINE = "simulators ready"
DEFAULT_PORTS: dict[str, int] = {"pos": 8701, "store": 8702, "sms": 8703, "smtp": 8725, "smtp_api": 8726}
EPHEMERAL_PORTS: dict[str, int] = dict.fromkeys(DEFAULT_PORTS, 0)
COMPONENTS = ("pos", "store", "sms", "smtp")
DEFAULT_STORE_TIMEZONE = "Europe/Paris"  # a non-UTC site all year round: GMT/local confusions show up
STATE_VERSION = 1


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file and rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, default=_json_default, separators=(",", ":"))  # one C-encoder pass: fast
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SimulatorCluster:
    """All simulators in background threads of this process; use as a context manager."""

    def __init__(
        self,
        seed: int = 42,
        scale: str = "small",
        faults: float = 0.0,
        ports: dict[str, int] | None = None,
        state_file: Path | str | None = None,
        now: datetime | None = None,
        host: str = "127.0.0.1",
        components: Iterable[str] = COMPONENTS,
        lost_response_writes: bool = False,
        store_https: bool = False,
        store_behind_tls_proxy: bool = False,
        store_timezone: str | None = DEFAULT_STORE_TIMEZONE,
        store_version: str | None = None,
    ) -> None:
        unknown = set(components) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown simulator components {sorted(unknown)}; choose from {COMPONENTS}")
        self.seed = seed
        self.scale = scale
        self.faults = faults
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.state_file = Path(state_file) if state_file else None
        self.now = now
        self.host = host
        self.components = tuple(c for c in COMPONENTS if c in set(components))
        self.lost_response_writes = lost_response_writes
        self.store_https = store_https
        self.store_behind_tls_proxy = store_behind_tls_proxy
        self.store_timezone = store_timezone
        self.store_version = store_version

        self._world: Any = None
        self._world_params: dict[str, Any] | None = None  # {"seed", "scale", "now"} of the world in use
        self.truth_path: Path | None = None
        self.pos_state: Any = None
        self.store_state: Any = None
        self.sms_state: SmsState | None = None
        self.smtp_state: SmtpState | None = None
        self.injectors: dict[str, FaultInjector] = {}
        self._servers: dict[str, ServerHandle] = {}
        self._smtp: SmtpSink | None = None
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> SimulatorCluster:
        """Build or load the states, start every server, write the truth file."""
        if self._started:
            return self
        try:
            self._load_or_build()
            self._start_servers()
        except BaseException:
            self._stop_servers()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop every server and save state when a state file was given."""
        if not self._started:
            return
        try:
            self._stop_servers()
        finally:
            self._started = False
            if self.state_file is not None:
                self.save_state()

    def __enter__(self) -> SimulatorCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state ------------------------------------------------------------------------------------
    def _load_or_build(self) -> None:
        saved: dict[str, Any] = {}
        if self.state_file is not None and self.state_file.exists():
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        self._world_params = saved.get("world")
        self.truth_path = self._truth_target()
        if saved.get("truth") is not None and not self.truth_path.exists():
            atomic_write_json(self.truth_path, saved["truth"])
        if "pos" in self.components:
            if "pos" in saved:
                self.pos_state = _pos().PosState.from_json(saved["pos"])
            else:
                self.pos_state = _pos().PosState.from_world(self._ensure_world())
        if "store" in self.components:
            if "store" in saved:
                self.store_state = _store().StoreState.from_json(saved["store"])
            else:
                self.store_state = _store().StoreState.from_world(self._ensure_world())
                if self.store_timezone:  # a new store only: a saved one keeps its site settings
                    self.store_state.options.timezone = self.store_timezone
            if self.store_version:
                self.store_state.options.wc_version = self.store_version
            self.store_state.options.behind_tls_proxy = self.store_behind_tls_proxy
        self.sms_state = SmsState.from_json(saved["sms"]) if "sms" in saved else SmsState()
        self.smtp_state = SmtpState.from_json(saved["smtp"]) if "smtp" in saved else SmtpState()
        if self._world_params is None:
            self.truth_path = None  # no world in play (SMS/SMTP only)

    def _ensure_world(self) -> Any:
        """Generate the world (or regenerate the saved one) and write its truth file if missing."""
        if self._world is None:
            if self._world_params is None:
                self._world = _seed().generate_world(self.seed, self.scale, self.now)
                self._world_params = {
                    "seed": self.seed,
                    "scale": self.scale,
                    "now": self._world.now.isoformat(),
                }
                fresh = True
            else:
                self._world = self._regenerate()
                fresh = False
            assert self.truth_path is not None
            if fresh or not self.truth_path.exists():  # a new world always replaces an old truth file
                _seed().write_truth(self._world, self.truth_path)
        return self._world

    def _regenerate(self) -> Any:
        p = self._world_params or {}
        return _seed().generate_world(p["seed"], p["scale"], datetime.fromisoformat(p["now"]))

    def _truth_target(self) -> Path:
        if self.state_file is not None:
            return self.state_file.parent / "truth.json"
        return get_settings().data_dir / "simulators" / "truth.json"

    def state_json(self) -> dict[str, Any]:
        """Everything needed to restart the simulators where they are now."""
        data: dict[str, Any] = {"version": STATE_VERSION}
        if self._world_params is not None:
            data["world"] = self._world_params
        if self.pos_state is not None:
            data["pos"] = self.pos_state.to_json()
        if self.store_state is not None:
            data["store"] = self.store_state.to_json()
        if self.sms_state is not None:
            data["sms"] = self.sms_state.to_json()
        if self.smtp_state is not None:
            data["smtp"] = self.smtp_state.to_json()
        if self.truth_path is not None and self.truth_path.exists():
            data["truth"] = json.loads(self.truth_path.read_text(encoding="utf-8"))
        return data

    def save_state(self, path: Path | None = None) -> Path:
        """Write :meth:`state_json` atomically to ``path`` (default: the state file)."""
        target = path or self.state_file
        if target is None:
            raise ValueError("no state file given")
        atomic_write_json(target, self.state_json())
        return target

    @property
    def world(self) -> Any:
        """The generated :class:`~storeflow_simulators.world.World` (None without POS/store).

        After loading a state file it is regenerated on first access from the saved ``(seed, scale, now)``
        - it describes the starting point, not the current simulator state.
        """
        if self._world is None and self._world_params is not None:
            self._world = self._regenerate()
        return self._world

    # --- servers ------------------------------------------------------------------------------------
    def _wrap(self, name: str, app: Any, flavor: str, offset: int) -> Any:
        # Always wrapped (rate 0 costs nothing) so faults can be switched on at run time.
        injector = FaultInjector(
            app,
            rate=self.faults,
            seed=self.seed + offset,
            flavor=flavor,  # type: ignore[arg-type]
            lost_response_writes=self.lost_response_writes,
        )
        self.injectors[name] = injector
        return injector

    def _start_servers(self) -> None:
        if "pos" in self.components:
            app = self._wrap("pos", _pos().create_pos_app(self.pos_state), "square", 1)
            self._servers["pos"] = serve_in_thread(app, self.host, self.ports["pos"])
        if "store" in self.components:
            app = self._wrap("store", _store().create_store_app(self.store_state), "woo", 2)
            tls = _store().store_tls_files() if self.store_https else None
            self._servers["store"] = serve_in_thread(app, self.host, self.ports["store"], tls=tls,
                                                     proxy_headers=False)
        if "sms" in self.components:
            app = self._wrap("sms", create_sms_app(self.sms_state), "twilio", 3)
            self._servers["sms"] = serve_in_thread(app, self.host, self.ports["sms"])
        if "smtp" in self.components:
            assert self.smtp_state is not None
            self._smtp = SmtpSink(self.smtp_state, host=self.host, port=self.ports["smtp"]).start()
            self._servers["smtp_api"] = serve_in_thread(
                create_smtp_api(self.smtp_state), self.host, self.ports["smtp_api"]
            )

    def _stop_servers(self) -> None:
        for handle in self._servers.values():
            handle.stop()
        self._servers.clear()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    # --- addresses ------------------------------------------------------------------------------------
    def _url(self, name: str) -> str | None:
        handle = self._servers.get(name)
        return handle.url if handle else None

    @property
    def pos_url(self) -> str | None:
        return self._url("pos")

    @property
    def store_url(self) -> str | None:
        return self._url("store")

    @property
    def store_ca_file(self) -> Path | None:
        """The store's self-signed certificate (pass it as CA bundle) when it serves HTTPS."""
        handle = self._servers.get("store")
        return handle.ca_file if handle else None

    @property
    def sms_url(self) -> str | None:
        return self._url("sms")

    @property
    def smtp_api_url(self) -> str | None:
        return self._url("smtp_api")

    @property
    def smtp_host(self) -> str:
        return self.host

    @property
    def smtp_port(self) -> int | None:
        return self._smtp.port if self._smtp else None

    def urls(self) -> dict[str, str]:
        """Running servers by name (``pos``, ``store``, ``sms``, ``smtp``, ``smtp_api``)."""
        out = {name: h.url for name, h in self._servers.items()}
        if self._smtp is not None:
            out["smtp"] = f"smtp://{self.host}:{self._smtp.port}"
        return out

    def fault_stats(self) -> dict[str, dict[str, Any]]:
        """Injected-fault counters per server (``pos``, ``store``, ``sms``)."""
        return {name: inj.stats() for name, inj in self.injectors.items()}

    def set_faults(self, rate: float, seed: int | None = None) -> None:
        """Change the fault rate of every server now (counters reset; ``seed`` restarts the RNGs)."""
        self.faults = rate
        for offset, inj in enumerate(self.injectors.values(), start=1):
            inj.reset(rate=rate, seed=None if seed is None else seed + offset)

    def env(self) -> dict[str, str]:
        """Environment variables pointing storeflow's connectors at this cluster."""
        values = {
            "STOREFLOW_POS_URL": self.pos_url,
            "STOREFLOW_STORE_URL": self.store_url,
            "STOREFLOW_SMS_URL": self.sms_url,
            "STOREFLOW_SMTP_HOST": self.smtp_host if self._smtp else None,
            "STOREFLOW_SMTP_PORT": str(self.smtp_port) if self._smtp else None,
            "STOREFLOW_SMTP_API_URL": self.smtp_api_url,
            "STOREFLOW_STORE_CA_BUNDLE": str(self.store_ca_file) if self.store_ca_file else None,
        }
        return {k: v for k, v in values.items() if v is not None}


def _seed() -> Any:
    try:
        from storeflow_simulators import seed
    except ImportError as exc:
        raise ImportError("storeflow_simulators.seed (generate_world) is not available yet") from exc
    return seed


def _pos() -> Any:
    try:
        from storeflow_simulators import pos
    except ImportError as exc:
        raise ImportError(
            "storeflow_simulators.pos (PosState, create_pos_app) is not available yet; "
            "start the cluster with components=('sms', 'smtp') meanwhile"
        ) from exc
    return pos


def _store() -> Any:
    try:
        from storeflow_simulators import store
    except ImportError as exc:
        raise ImportError(
            "storeflow_simulators.store (StoreState, create_store_app) is not available yet; "
            "start the cluster with components=('sms', 'smtp') meanwhile"
        ) from exc
    return store
