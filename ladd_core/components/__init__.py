"""Abstract base classes and output dataclasses, one module per component kind."""
