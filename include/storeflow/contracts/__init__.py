"""Vendor-side conventions shared by storeflow's connectors and the simulators (no I/O, no dependencies)."""
