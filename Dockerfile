# storeflow image: the official Airflow image plus storeflow's pinned requirements and library.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt constraints.txt /opt/storeflow/
RUN pip install --no-cache-dir -r /opt/storeflow/requirements.txt -c /opt/storeflow/constraints.txt

COPY --chown=airflow:root pyproject.toml /opt/storeflow/
COPY --chown=airflow:root include /opt/storeflow/include
RUN pip install --no-cache-dir --no-deps -e /opt/storeflow
