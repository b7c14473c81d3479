"""storeflow's Airflow provider info (entry point ``apache_airflow_provider``): its connection types.

Airflow's ``ProvidersManager`` reads this at start-up (no Airflow import here, so the library stays
Airflow-free) and shows ``storeflow_pos`` and ``storeflow_store`` in the connection form with the fields
below; the hook classes live in the Airflow plugin (``plugins/storeflow_airflow/hooks.py``), whose
``test_connection()`` runs the ``storeflow doctor`` checks behind the UI's "Test connection" button.
Declared the Airflow 3.2+ way (``conn-fields`` and ``ui-field-behaviour`` in the provider info).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

CA_BUNDLE_FIELD = {
    "label": "CA bundle (path)",
    "schema": {"type": ["string", "null"]},
    "description": "Path of the CA bundle that signed the server's certificate, on the workers and the API "
                   "server (Test connection); empty = the system trust store. TLS verification cannot be "
                   "switched off.",
}

POS_CONNECTION = {
    "connection-type": "storeflow_pos",
    "hook-class-name": "storeflow_airflow.hooks.PosHook",
    "hook-name": "storeflow POS (Square API)",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "login"],
        "relabeling": {"host": "Base URL", "password": "Access token"},
        "placeholders": {"host": "https://connect.squareup.com (sandbox: https://connect.squareupsandbox.com)",
                         "password": "Square access token (EAAA…)"},
    },
    "conn-fields": {"ca_bundle": CA_BUNDLE_FIELD},
}

STORE_CONNECTION = {
    "connection-type": "storeflow_store",
    "hook-class-name": "storeflow_airflow.hooks.StoreHook",
    "hook-name": "storeflow store (WooCommerce REST API)",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {"host": "Store URL", "login": "Consumer key", "password": "Consumer secret"},
        "placeholders": {"host": "https://shop.example.com", "login": "ck_…", "password": "cs_…"},
    },
    "conn-fields": {
        "auth": {
            "label": "Authentication",
            "schema": {"type": ["string", "null"], "default": "auto", "enum": ["auto", "basic", "oauth1", "query"]},
            "description": "auto: HTTP Basic over https://, OAuth 1.0a signatures over http:// (what WooCommerce "
                           "accepts); basic, oauth1 or query force a method.",
        },
        "ca_bundle": CA_BUNDLE_FIELD,
    },
}


def _version() -> str:
    try:
        return version("storeflow")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow validates against ``provider_info.schema.json``."""
    return {
        "package-name": "storeflow",
        "name": "storeflow",
        "description": "POS (Square) and online store (WooCommerce) connections for storeflow.",
        "versions": [_version()],
        "connection-types": [POS_CONNECTION, STORE_CONNECTION],
    }
