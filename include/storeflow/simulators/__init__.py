"""storeflow.simulators."""
