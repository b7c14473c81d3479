"""Hostname callable that tells Celery workers on one machine apart (``[core] hostname_callable``).

Set ``AIRFLOW__CORE__HOSTNAME_CALLABLE=storeflow_airflow.hostname.worker_hostname`` and give each worker
``STOREFLOW_WORKER_NAME``; task instances then record ``<name>@<fqdn>`` as their hostname.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """``<STOREFLOW_WORKER_NAME>@<fqdn>``, or the plain fqdn when no name is set."""
    name = os.environ.get("STOREFLOW_WORKER_NAME")
    fqdn = socket.getfqdn()
    return f"{name}@{fqdn}" if name else fqdn
