"""ExpertSender CDP ``dataFields``: the documented types, with one stable string format per type."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.utils.values import parse_bool_word


class DataFieldType(str, Enum):
    """The documented ``dataFields`` types. Every value travels as a string in the format given here."""

    #: any text; non-strings are written in the format of their inferred type.
    STRING = "String"
    #: long text; same format as String.
    TEXT = "Text"
    #: a plain decimal without exponent: ``12``, ``-3.25``.
    NUMBER = "Number"
    #: a decimal with at least two decimals (more are kept, never rounded): ``19.90``, ``0.125``.
    MONEY = "Money"
    #: ``YYYY-MM-DD``.
    DATE = "Date"
    #: ISO-8601 in UTC: ``YYYY-MM-DDTHH:MM:SSZ`` (``.ffffff`` before the ``Z`` when there are microseconds).
    DATETIME = "DateTime"
    #: ``true`` or ``false``.
    BOOLEAN = "Boolean"
    #: an absolute ``http``/``https`` URL.
    URL = "URL"

    @classmethod
    def parse(cls, value: DataFieldType | str) -> DataFieldType:
        """The type named ``value`` (case-insensitive).

        :raises ConfigurationError: for a type the vendor does not document.
        """
        if isinstance(value, DataFieldType):
            return value
        lowered = str(value).strip().lower()
        for kind in cls:
            if lowered in (kind.value.lower(), kind.name.lower()):
                return kind
        raise ConfigurationError(
            f"unknown data field type {value!r}; use one of {', '.join(k.value for k in cls)}"
        )

    @classmethod
    def infer(cls, value: Any) -> DataFieldType:
        """The type of a Python value: bool -> Boolean, int/float/Decimal -> Number, datetime -> DateTime,
        date -> Date, str -> String.

        :raises ValueError: for any other Python type.
        """
        if isinstance(value, bool):
            return cls.BOOLEAN
        if isinstance(value, (int, float, Decimal)):
            return cls.NUMBER
        if isinstance(value, datetime):
            return cls.DATETIME
        if isinstance(value, date):
            return cls.DATE
        if isinstance(value, str):
            return cls.STRING
        raise ValueError(f"cannot infer a data field type for a {type(value).__name__}; give the type")

    def render(self, value: Any) -> str:
        """``value`` in this type's stable string format.

        :raises ValueError: when the value cannot be represented as this type (payload-free message).
        """
        return _FORMATTERS[self](value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
    else:
        raise ValueError(f"a {type(value).__name__} is not a number")
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _plain(number: Decimal) -> str:
    if number.is_zero():
        number = number.copy_abs()
    return format(number, "f")


def _format_number(value: Any) -> str:
    return _plain(_decimal(value))


def _format_money(value: Any) -> str:
    number = _decimal(value)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        try:
            number = number.quantize(Decimal("0.01"))
        except InvalidOperation:
            raise ValueError("too many digits for an amount") from None
    return _plain(number)


def _format_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10:
                raise ValueError(text)
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            raise ValueError("not a date in the YYYY-MM-DD format") from None
    raise ValueError(f"a {type(value).__name__} is not a date")


def _format_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not an ISO-8601 date-time") from None
    else:
        raise ValueError(f"a {type(value).__name__} is not a date-time")
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(pattern)


def _format_boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if isinstance(value, str):
        word = parse_bool_word(value)
        if word is not None:
            return "true" if word else "false"
    raise ValueError("not a boolean (true/false, 1/0, yes/no)")


def _format_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a URL")
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise ValueError("not an absolute http(s) URL")
    return text


def _format_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return DataFieldType.infer(value).render(value)


_FORMATTERS = {
    DataFieldType.STRING: _format_string,
    DataFieldType.TEXT: _format_string,
    DataFieldType.NUMBER: _format_number,
    DataFieldType.MONEY: _format_money,
    DataFieldType.DATE: _format_date,
    DataFieldType.DATETIME: _format_datetime,
    DataFieldType.BOOLEAN: _format_boolean,
    DataFieldType.URL: _format_url,
}


@dataclass(frozen=True)
class DataField:
    """One ``dataFields`` item, already in wire format.

    :param name: the data name used in the scenario.
    :param type: the documented type.
    :param value: the value in the type's string format.
    """

    name: str
    type: DataFieldType
    value: str

    @classmethod
    def of(cls, name: str, value: Any, type: DataFieldType | str | None = None) -> DataField:
        """Convert a Python value, with an explicit type or one inferred from the value.

        :raises InvalidRecordError: the value does not fit the type, or the type is unknown
            (``dataFields.<name>`` names the field).
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidRecordError("dataFields", "a data field needs a non-empty name")
        where = f"dataFields.{name}"
        try:
            kind = DataFieldType.parse(type) if type is not None else DataFieldType.infer(value)
            return cls(name, kind, kind.render(value))
        except (ValueError, ConfigurationError) as exc:
            raise InvalidRecordError(where, str(exc)) from None

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type.value, "value": self.value}


def build_data_fields(
    data_fields: Mapping[str, Any] | Iterable[DataField] | None,
    types: Mapping[str, DataFieldType | str] | None = None,
) -> list[dict[str, str]]:
    """``dataFields`` for a request body.

    :param data_fields: ``name -> value``, or ``name -> {"value": ..., "type": ...}``, or ready
        :class:`DataField` items. ``None`` values are left out (a SQL NULL sends no field).
    :param types: ``name -> type`` for values whose type is not given inline (otherwise inferred).
    :raises InvalidRecordError: a value that does not fit its type.
    :raises ConfigurationError: an unknown type.
    """
    if data_fields is None:
        return []
    types = types or {}
    items: list[dict[str, str]] = []
    if isinstance(data_fields, Mapping):
        for name, raw in data_fields.items():
            value, explicit = raw, types.get(name)
            if isinstance(raw, Mapping):
                unknown = set(raw) - {"value", "type"}
                if "value" not in raw or unknown:
                    raise InvalidRecordError(
                        f"dataFields.{name}", 'expected a value or a {"value": ..., "type": ...} mapping'
                    )
                value, explicit = raw["value"], raw.get("type") or explicit
            if value is None:
                continue
            items.append(DataField.of(str(name), value, explicit).to_wire())
        return items
    for item in data_fields:
        if not isinstance(item, DataField):
            raise ConfigurationError("data_fields must be a mapping or DataField items")
        items.append(item.to_wire())
    return items
