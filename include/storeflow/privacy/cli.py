"""GDPR: export everything storeflow holds about one person, or erase it (Art. 15 and 17).

``python -m storeflow.privacy erase|export (--customer-id ID | --email E) [--dry-run]``, also
``storeflow privacy erase|export …`` (see :mod:`storeflow.cli`).
"""

from __future__ import annotations

import argparse
import json
import os

from storeflow.privacy.access_export import export_customer
from storeflow.privacy.erasure import erase_customer


def main(argv: list[str] | None = None, prog: str = "python -m storeflow.privacy") -> int:
    """``python -m storeflow.privacy erase|export (--customer-id ID | --email E) [--dry-run]``.

    The POS and store clients come from ``AIRFLOW_CONN_STOREFLOW_POS`` / ``AIRFLOW_CONN_STOREFLOW_STORE`` (the
    connections the DAGs use, in Airflow's JSON or URI form), else from the ``STOREFLOW_*`` settings; outside
    the demo profile a missing credential stops the erasure before anything changes.
    """
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("erase", "export"))
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id")
    who.add_argument("--email")
    parser.add_argument("--dry-run", action="store_true",
                        help="erase: report what would change, change nothing")
    parser.add_argument("--requested-by", default=os.environ.get("USER") or "cli")
    parser.add_argument("--no-external", action="store_true",
                        help="erase: do not record opt-outs in POS/store")
    parser.add_argument("--print", dest="print_export", action="store_true",
                        help="export: print the document")
    args = parser.parse_args(argv)

    from storeflow.landing import LandingZone
    from storeflow.warehouse.db import connect_warehouse

    engine = connect_warehouse()
    landing = LandingZone.from_settings()
    try:
        if args.action == "export":
            doc = export_customer(engine, landing, customer_id=args.customer_id, email=args.email)
            print(json.dumps(doc if args.print_export else {"export_uri": doc.get("export_uri")}, indent=1))
            return 0
        pos = store = None
        if not args.no_external and not args.dry_run:
            from storeflow.resources import Resources

            # the same connections the DAGs use (AIRFLOW_CONN_STOREFLOW_POS / _STORE),
            # else the STOREFLOW_* settings
            resources = Resources.from_env()
            pos, store = resources.pos_client(), resources.store_client()
        report = erase_customer(engine, landing, customer_id=args.customer_id, email=args.email,
                                pos_client=pos, store_client=store, requested_by=args.requested_by,
                                dry_run=args.dry_run)
        print(json.dumps(report.as_dict(), indent=1))
        return 0
    finally:
        engine.dispose()
