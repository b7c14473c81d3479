"""storeflow_simulators."""
