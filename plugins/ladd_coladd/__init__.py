"""ladd_coladd plug-in (in progress)."""
