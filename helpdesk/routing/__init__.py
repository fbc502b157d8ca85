"""Request routing: the pure classifier core, emergency guard, de-identification, metrics."""
