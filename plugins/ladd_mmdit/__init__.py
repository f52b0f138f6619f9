"""ladd_mmdit plug-in (in progress)."""
