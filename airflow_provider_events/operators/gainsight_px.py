"""Operators: filled in by the vendor issue."""
