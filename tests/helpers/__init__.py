"""Test helpers and fixtures shared across test directories: one module per vendor, plus the per-vendor
``hook``/``base_url`` fixtures. Registered as pytest plugins in ``tests/conftest.py``."""
