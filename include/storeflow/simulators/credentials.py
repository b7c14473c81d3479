"""Demo credentials the local simulators accept by default (documented in the README).

These are not secrets: they only open the local simulators. Connectors fall back to them only when no
Airflow connection or ``STOREFLOW_*`` environment variable names real credentials.
"""

DEMO_STORE_KEY = "ck_storeflow_demo"
DEMO_STORE_SECRET = "cs_storeflow_demo"  # noqa: S105
DEMO_POS_TOKEN = "storeflow-demo-token"  # noqa: S105
DEMO_SMS_SID = "ACstoreflowdemo"
DEMO_SMS_TOKEN = "storeflow-demo"  # noqa: S105
