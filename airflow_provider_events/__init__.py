"""Apache Airflow provider that moves warehouse events into marketing-automation tools."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
