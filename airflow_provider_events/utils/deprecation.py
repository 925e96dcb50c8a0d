"""Renamed operator arguments: the old name keeps working for now, with a deprecation warning."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar, overload

from airflow_provider_events.exceptions import ConfigurationError

T = TypeVar("T")


def _provider_deprecation_warning() -> type[DeprecationWarning]:
    """Airflow's provider deprecation warning class, or plain ``DeprecationWarning`` where it has none."""
    try:
        from airflow.exceptions import AirflowProviderDeprecationWarning
    except ImportError:  # pragma: no cover - older Airflow
        return DeprecationWarning
    return AirflowProviderDeprecationWarning


ProviderDeprecationWarning = _provider_deprecation_warning()

__all__ = ["ProviderDeprecationWarning", "renamed_argument"]


@overload
def renamed_argument(
    owner: str, kwargs: dict[str, Any], *, old: str, new: str, value: T | None, default: T
) -> T: ...


@overload
def renamed_argument(
    owner: str, kwargs: dict[str, Any], *, old: str, new: str, value: T | None, default: None = None
) -> T | None: ...


def renamed_argument(
    owner: str,
    kwargs: dict[str, Any],
    *,
    old: str,
    new: str,
    value: T | None,
    default: T | None = None,
) -> T | None:
    """The value of argument ``new``, taking the deprecated ``old`` from ``kwargs`` (popped) when given.

    :param owner: the class whose argument was renamed (named in the warning and the error).
    :param kwargs: the caller's remaining keyword arguments; ``old`` is removed from them.
    :param old: the deprecated name.
    :param new: the current name.
    :param value: what was given as ``new`` (``None`` or ``default``: not given).
    :param default: the value when neither was given (the signature's default of ``new``).
    :raises ConfigurationError: when both names were given.
    """
    if old not in kwargs:
        return default if value is None else value
    old_value: T | None = kwargs.pop(old)
    if value is not None and value != default:
        raise ConfigurationError(f"{owner}: give {new} only; {old} is its deprecated name")
    warnings.warn(
        f"{owner}: the argument {old!r} is deprecated, use {new!r} instead",
        ProviderDeprecationWarning,
        stacklevel=3,
    )
    return default if old_value is None else old_value


class AttributeAlias:
    """A class attribute that reads and writes another attribute of the instance.

    Vendor operators built on ``SqlToEventsOperator`` store their vendor connection id in
    ``destination_conn_id`` (what the engine reads) and expose it as ``<vendor>_conn_id``, the name users
    pass and template: ``gainsight_px_conn_id = AttributeAlias("destination_conn_id")``.
    """

    def __init__(self, target: str) -> None:
        self.target = target

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return getattr(instance, self.target)

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(instance, self.target, value)
