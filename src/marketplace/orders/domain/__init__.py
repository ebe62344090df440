"""Pure rules of the orders context (no I/O, no framework)."""
