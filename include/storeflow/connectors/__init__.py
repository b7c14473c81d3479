"""storeflow.connectors."""
