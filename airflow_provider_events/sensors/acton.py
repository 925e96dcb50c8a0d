"""Filled in by the Act-On issue."""
