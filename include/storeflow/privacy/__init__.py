"""Privacy helpers (GDPR erasure and export); the entry points live in :mod:`storeflow.gdpr`."""
