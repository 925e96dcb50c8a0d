"""Coerce templated operator arguments: rendered values arrive as text unless the DAG renders native objects.

Each function takes the argument's name, so a bad value fails with an error naming it, e.g.
``ConfigurationError: max_concurrency must be an integer, got 'ten'``.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence

from airflow_provider_events.exceptions import ConfigurationError

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off", ""})


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null"))


def as_bool(name: str, value: object) -> bool:
    """``True``/``False`` from a bool, 0/1, or text such as ``"true"``, ``"False"``, ``"yes"``, ``"0"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


def as_int(name: str, value: object, *, minimum: int | None = None, optional: bool = False) -> int | None:
    """An integer from an int or its text; ``None`` (or empty text) when ``optional``."""
    if optional and _blank(value):
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ConfigurationError(f"{name} must be an integer, got {value!r}") from None
            if not number.is_integer():
                raise ConfigurationError(f"{name} must be an integer, got {value!r}") from None
            value = int(number)
    if not isinstance(value, int):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def as_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    optional: bool = False,
) -> float | None:
    """A number from an int, a float or its text; ``None`` (or empty text) when ``optional``."""
    if optional and _blank(value):
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
    if not isinstance(value, (int, float)) or math.isnan(value):  # NaN is not a setting
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if minimum is not None and number < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum:g}, got {number:g}")
    return number


def as_str_list(name: str, value: object) -> list[str] | None:
    """Column names from a list, one name, a comma-separated text or a rendered list (``"['a', 'b']"``)."""
    if _blank(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                try:
                    parsed = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ConfigurationError(f"{name} is not a list: {value!r}") from None
            value = parsed
        else:
            value = [part.strip() for part in text.split(",")]
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ConfigurationError(f"{name} must be a list of column names, got {value!r}")
    names = [str(v).strip() for v in value]
    if not names or any(not n for n in names):
        raise ConfigurationError(f"{name} must name at least one column and no empty one, got {value!r}")
    return names
