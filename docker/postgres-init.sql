-- The storeflow warehouse lives beside Airflow's metadata database.
CREATE DATABASE storeflow OWNER airflow;
