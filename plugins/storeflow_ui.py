"""Registers storeflow's pages with Airflow: the ``/storeflow`` FastAPI app and its navigation entries.

Airflow loads every ``*.py`` under ``plugins/`` and registers the ``AirflowPlugin`` subclasses it finds;
this is the only file defining one (the ``storeflow_airflow`` package holds the code it points to).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from storeflow_airflow.ui import URL_PREFIX

CATEGORY = "storeflow"


class StoreflowUIPlugin(AirflowPlugin):
    """Sync health, quarantine browser and reports in the Airflow UI (menu *Plugins → storeflow*)."""

    name = "storeflow_ui"

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Built on first use: only the api-server reads it (schedulers and workers load plugins too)."""
        from storeflow_airflow.ui.app import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "storeflow pages"}]

    external_views = [
        {"name": "Sync health", "href": f"{URL_PREFIX}/health", "destination": "nav",
         "url_route": "storeflow-health", "category": CATEGORY},
        {"name": "Quarantine", "href": f"{URL_PREFIX}/quarantine", "destination": "nav",
         "url_route": "storeflow-quarantine", "category": CATEGORY},
        {"name": "Reports", "href": f"{URL_PREFIX}/reports", "destination": "nav",
         "url_route": "storeflow-reports", "category": CATEGORY},
        # a tab on every DAG run: what that run synced, its quarantine and its Data Docs
        {"name": "storeflow", "href": f"{URL_PREFIX}/runs?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
         "destination": "dag_run", "url_route": "storeflow-run"},
    ]
