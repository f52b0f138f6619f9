"""Fault injection: hostile inputs, concurrent trainers, signals and damaged run directories (issue #13)."""
