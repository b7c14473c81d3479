"""The soak: a seeded month in the life of two shops, driven through the simulators, checked every cycle."""
