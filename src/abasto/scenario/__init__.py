"""Deterministic generator of a national scenario for the demo and tests."""
