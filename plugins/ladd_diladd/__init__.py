"""ladd_diladd plug-in (in progress)."""
