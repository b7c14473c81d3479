"""storeflow's own Airflow connection types: ``storeflow_pos`` and ``storeflow_store``.

Registered through the ``apache_airflow_provider`` entry point (:mod:`storeflow.airflow_provider`), so the
connection form shows the right fields (base URL, token; store URL, consumer key/secret, auth method,
CA bundle) and "Test connection" works: :meth:`PosHook.test_connection` / :meth:`StoreHook.test_connection`
run the read-only ``storeflow doctor`` checks (:mod:`storeflow.doctor`) against the connection and answer
``(True, summary)`` when no check failed, else ``(False, what failed)``. The UI button needs
``AIRFLOW__CORE__TEST_CONNECTION=Enabled`` (Airflow's default is Disabled).

``get_conn()`` builds the same clients as :mod:`storeflow_airflow.connections` (these hooks subclass those).
"""

from __future__ import annotations

import logging
from typing import Any

from storeflow_airflow.connections import StoreflowPosHook, StoreflowStoreHook, connection_fields

log = logging.getLogger(__name__)


def _field_behaviour(connection: dict[str, Any]) -> dict[str, Any]:
    ui = connection["ui-field-behaviour"]
    return {"hidden_fields": ui["hidden-fields"], "relabeling": ui["relabeling"], "placeholders": ui["placeholders"]}


def _extra_value(conn, conn_type: str, name: str, default: Any = None) -> Any:
    extra = conn.extra or {}
    return extra.get(name, extra.get(f"extra__{conn_type}__{name}", default))


def _fields(hook: Any, conn_id: str):
    fields = connection_fields(conn_id)
    if fields is None:
        hook.get_connection(conn_id)  # raises Airflow's own "not defined" error
    return fields


class _DoctorHook:
    """What both connection types share: the form layout and "Test connection" through ``doctor()``."""

    provider_connection: str  # the connection's entry in :mod:`storeflow.airflow_provider`

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form layout (Airflow before 3.2; later versions read it from the provider info)."""
        from storeflow import airflow_provider

        return _field_behaviour(getattr(airflow_provider, cls.provider_connection))

    def doctor(self) -> Any:
        """The ``storeflow doctor`` report of this connection."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test connection" (read-only): ``(no FAIL, summary)``."""
        try:
            report = self.doctor()
        except Exception as exc:  # noqa: BLE001 - shown to the user in the UI, never raised
            return False, f"{type(exc).__name__}: {exc}"
        return report.ok, report.summary()


class PosHook(_DoctorHook, StoreflowPosHook):
    """``storeflow_pos``: host = base URL, password = access token, extra ``ca_bundle``."""

    conn_type = "storeflow_pos"
    hook_name = "storeflow POS (Square API)"
    provider_connection = "POS_CONNECTION"

    def target(self):
        """The connection as a :class:`storeflow.doctor.PosTarget` (raises when it does not exist)."""
        from storeflow.doctor import PosTarget

        conn = _fields(self, self.pos_conn_id)
        return PosTarget(conn.base_url or "", conn.password or "", credentials=f"connection {self.pos_conn_id}",
                         verify=conn.verify(), conn_id=self.pos_conn_id)

    def doctor(self, timeout: float = 10.0):
        """The POS checks of ``storeflow doctor`` for this connection (a :class:`storeflow.doctor.Report`)."""
        from storeflow.doctor import run_doctor

        return run_doctor(None, self.target(), timeout=timeout)


class StoreHook(_DoctorHook, StoreflowStoreHook):
    """``storeflow_store``: host = store URL, login/password = consumer key/secret, extra ``auth``, ``ca_bundle``."""

    conn_type = "storeflow_store"
    hook_name = "storeflow store (WooCommerce REST API)"
    provider_connection = "STORE_CONNECTION"

    def target(self):
        """The connection as a :class:`storeflow.doctor.StoreTarget` (raises when it does not exist)."""
        from storeflow.doctor import StoreTarget

        conn = _fields(self, self.store_conn_id)
        return StoreTarget(conn.base_url or "", conn.login or "", conn.password or "",
                           verify=conn.verify(), credentials=f"connection {self.store_conn_id}",
                           auth=_extra_value(conn, self.conn_type, "auth") or "auto", conn_id=self.store_conn_id)

    def doctor(self, *, write_test: bool = False, timeout: float = 10.0):
        """The store checks of ``storeflow doctor`` for this connection (``write_test`` changes data)."""
        from storeflow.doctor import run_doctor

        return run_doctor(self.target(), None, write_test=write_test, timeout=timeout)


def run_connection_checks(system: str, *, conn_id: str | None = None, write_test: bool = False) -> dict[str, Any]:
    """Task body of the ``check_connections`` DAG: log the report, fail the task on any FAIL line."""
    from storeflow.doctor import FAIL

    if system == "pos":
        hook: PosHook | StoreHook = PosHook(pos_conn_id=conn_id or PosHook.default_conn_name)
        report = hook.doctor()
    else:
        hook = StoreHook(store_conn_id=conn_id or StoreHook.default_conn_name)
        report = hook.doctor(write_test=write_test)
    for line in report.render().splitlines():
        log.info("%s", line)
    if not report.ok:
        failed = "; ".join(f"{c.system}.{c.name}: {c.detail}" for c in report.checks if c.verdict == FAIL)
        where = ", ".join(f"{name} {t['url']} ({t['credentials']})" for name, t in report.targets.items())
        raise RuntimeError(f"storeflow doctor, {where}: {len(report.failed)} check(s) failed: {failed}")
    return report.as_dict()
