"""ladd_encoders plug-in (in progress)."""
