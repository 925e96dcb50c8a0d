"""Java ``SimpleDateFormat`` patterns, as Act-On's ``dateformat`` takes them: validate, format, parse.

Month and day names are English whatever the process locale. A pattern is compiled once into a single
``str.format`` call per date, since a sync formats every row's date with the same pattern.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime

from airflow_provider_events.exceptions import ConfigurationError

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_PATTERN_LETTERS = frozenset("yMdEHhmsSa")


@functools.lru_cache(maxsize=64)
def _tokenize_pattern(pattern: str) -> tuple[tuple[str, str], ...]:
    """Split a Java ``SimpleDateFormat`` pattern into ``("field", "MMM")`` / ``("literal", ", ")`` tokens.

    Cached: a sync formats every row's date with the same pattern.
    """
    if not pattern:
        raise ConfigurationError("dateformat must not be empty")
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            if pattern[i + 1 : i + 2] == "'":
                tokens.append(("literal", "'"))
                i += 2
                continue
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ConfigurationError(f"dateformat {pattern!r}: unterminated quote")
            tokens.append(("literal", pattern[i + 1 : end]))
            i = end + 1
        elif char.isascii() and char.isalpha():
            if char not in _PATTERN_LETTERS:
                raise ConfigurationError(
                    f"dateformat {pattern!r}: pattern letter {char!r} is not supported "
                    f"(supported: {''.join(sorted(_PATTERN_LETTERS))})"
                )
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            tokens.append(("field", pattern[i:j]))
            i = j
        else:
            tokens.append(("literal", char))
            i += 1
    return tuple(tokens)


def validate_dateformat(pattern: str) -> str:
    """Check a Java-style ``dateformat`` can be produced here; return it unchanged.

    :raises ConfigurationError: for an unsupported pattern letter or an unterminated quote.
    """
    _tokenize_pattern(pattern)
    return pattern


def format_acton_date(value: date | datetime, pattern: str) -> str:
    """Format a date/datetime with a Java ``SimpleDateFormat`` pattern, month/day names in English.

    Supported letters: ``y`` (``yy`` two digits, otherwise four), ``M`` (``M``/``MM`` numbers, ``MMM`` =
    ``Jan``, ``MMMM`` = ``January``), ``d``, ``E`` (``EEE`` = ``Tue``, ``EEEE`` = ``Tuesday``), ``H``, ``h``,
    ``m``, ``s``, ``S`` (milliseconds) and ``a`` (AM/PM); ``'quoted'`` literals. Names are English regardless
    of the process locale (no ``strftime`` ``%b``). An aware datetime is formatted in its own offset.
    """
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    return _date_formatter(pattern)(moment)


@functools.lru_cache(maxsize=64)
def _date_formatter(pattern: str) -> Callable[[datetime], str]:
    """Compile a pattern once into one ``str.format`` call per date (a sync formats every row's date)."""
    parts: list[str] = []
    getters: list[Callable[[datetime], object]] = []

    def field(getter: Callable[[datetime], object], spec: str = "") -> None:
        parts.append(f"{{{len(getters)}{spec}}}")
        getters.append(getter)

    for kind, text in _tokenize_pattern(pattern):
        if kind == "literal":
            parts.append(text.replace("{", "{{").replace("}", "}}"))
            continue
        letter, width = text[0], len(text)
        if letter == "y":
            if width == 2:
                field(lambda m: m.year % 100, ":02d")
            else:
                field(lambda m: m.year, f":0{max(width, 4)}d")
        elif letter == "M":
            if width >= 4:
                field(lambda m: _MONTHS[m.month - 1])
            elif width == 3:
                field(lambda m: _MONTHS[m.month - 1][:3])
            else:
                field(lambda m: m.month, f":0{width}d")
        elif letter == "d":
            field(lambda m: m.day, f":0{width}d")
        elif letter == "E":
            field((lambda m: _DAYS[m.weekday()]) if width >= 4 else (lambda m: _DAYS[m.weekday()][:3]))
        elif letter == "H":
            field(lambda m: m.hour, f":0{width}d")
        elif letter == "h":
            field(lambda m: (m.hour % 12) or 12, f":0{width}d")
        elif letter == "m":
            field(lambda m: m.minute, f":0{width}d")
        elif letter == "s":
            field(lambda m: m.second, f":0{width}d")
        elif letter == "S":
            field(lambda m: m.microsecond // 1000, f":0{max(width, 3)}d")
        elif letter == "a":
            field(lambda m: "AM" if m.hour < 12 else "PM")
    template = "".join(parts).format

    def format_date(moment: datetime) -> str:
        return template(*[get(moment) for get in getters])

    return format_date


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    for kind, text in _tokenize_pattern(pattern):
        if kind == "literal":
            parts.append(re.escape(text))
            continue
        letter, width = text[0], len(text)
        if letter == "y":
            parts.append(r"(?P<yy>\d{2})" if width == 2 else r"(?P<y>\d{4})")
        elif letter == "M":
            if width >= 4:
                parts.append("(?P<MMMM>" + "|".join(_MONTHS) + ")")
            elif width == 3:
                parts.append("(?P<MMM>" + "|".join(m[:3] for m in _MONTHS) + ")")
            else:
                parts.append(r"(?P<M>\d{1,2})")
        elif letter == "E":
            parts.append("(?:" + "|".join(_DAYS) + "|" + "|".join(d[:3] for d in _DAYS) + ")")
        elif letter in "dHhms":
            parts.append(rf"(?P<{letter}>\d{{1,2}})")
        elif letter == "S":
            parts.append(r"(?P<S>\d{1,3})")
        elif letter == "a":
            parts.append(r"(?P<a>AM|PM|am|pm)")
    return re.compile("".join(parts))


def parse_acton_date(text: str, pattern: str) -> datetime:
    """Parse a string written with a Java-style ``dateformat`` (English names, case-insensitive).

    :raises ValueError: when ``text`` does not match the pattern or is not a real date.
    """
    match = _pattern_regex(pattern).fullmatch(text.strip())
    if match is None:
        # names are matched case-sensitively by the regex; retry case-insensitively
        match = re.compile(_pattern_regex(pattern).pattern, re.IGNORECASE).fullmatch(text.strip())
    if match is None:
        raise ValueError("does not match the dateformat")
    groups = match.groupdict()
    if groups.get("y"):
        year = int(groups["y"])
    elif groups.get("yy"):
        year = 2000 + int(groups["yy"])
    else:
        year = 1970
    if groups.get("MMMM"):
        month = [m.lower() for m in _MONTHS].index(groups["MMMM"].lower()) + 1
    elif groups.get("MMM"):
        month = [m[:3].lower() for m in _MONTHS].index(groups["MMM"].lower()) + 1
    else:
        month = int(groups.get("M") or 1)
    hour = int(groups.get("H") or 0)
    if groups.get("h"):
        hour = int(groups["h"]) % 12 + (12 if (groups.get("a") or "").upper() == "PM" else 0)
    return datetime(
        year,
        month,
        int(groups.get("d") or 1),
        hour,
        int(groups.get("m") or 0),
        int(groups.get("s") or 0),
        int(groups.get("S") or 0) * 1000,
    )
