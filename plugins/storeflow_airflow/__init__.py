"""Airflow glue for storeflow: connections → clients, alert notifiers, shared DAG defaults, Assets."""
