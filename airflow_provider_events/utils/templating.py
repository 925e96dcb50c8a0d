"""Telling a Jinja2 template from a plain value without importing Jinja2 (operators check at DAG parse)."""

from __future__ import annotations


def is_template(value: object) -> bool:
    """True when ``value`` is text holding a Jinja2 expression (``{{ }}``) or statement (``{% %}``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)
