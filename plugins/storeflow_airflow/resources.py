"""storeflow's resources for one task, built once from the Airflow connections (settings are the fallback).

:func:`task_resources` reads every storeflow connection once per task process and returns the library's
:class:`storeflow.resources.Resources`; the task glue takes clients, senders and configs from it.
"""

from __future__ import annotations

from functools import lru_cache

from storeflow.resources import CONNECTION_IDS, Resources
from storeflow.settings import get_settings
from storeflow_airflow.connections import connection_fields, warehouse_url


class AirflowResources(Resources):
    """:class:`Resources` whose warehouse URL is the ``storeflow_warehouse`` connection's URI (any form)."""

    def warehouse_url(self) -> str | None:
        return warehouse_url()


@lru_cache(maxsize=1)
def task_resources() -> Resources:
    """Every defined storeflow connection, read once per task process."""
    return AirflowResources({cid: f for cid in CONNECTION_IDS if (f := connection_fields(cid)) is not None})


def campaign_senders() -> dict:
    """The campaign senders from the connections; a channel whose credentials are missing gets ``None``
    (the dispatcher keeps its messages planned and fails the run naming the connection)."""
    from storeflow.campaigns.providers import resource_senders

    return resource_senders(task_resources(), get_settings())
