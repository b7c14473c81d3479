"""storeflow.sync."""
