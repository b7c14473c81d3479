"""storeflow's pages inside the Airflow UI: a FastAPI app (``app.py``) registered by ``plugins/storeflow_ui.py``.

Cheap to import (task code imports :data:`URL_PREFIX` to build links); FastAPI and Jinja2 load in ``app.py``.
"""

URL_PREFIX = "/storeflow"
