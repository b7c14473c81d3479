"""storeflow: POS <-> online store sync, data quality, customer scoring and campaigns.

The library is importable and testable without Airflow; ``dags/`` and ``plugins/`` wire it in.
"""

__version__ = "0.1.0"
