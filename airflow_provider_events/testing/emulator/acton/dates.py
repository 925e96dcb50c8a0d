"""Java ``SimpleDateFormat`` patterns as Act-On parses upload dates, translated to ``strptime``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

# strptime imports _strptime lazily, which is not thread-safe on first use: import it now.
datetime.strptime("2000", "%Y")


@dataclass(frozen=True)
class _Candidate:
    fmt: str
    two_digit_year: bool
    has_time: bool


_JAVA_LETTERS: dict[str, Any] = {
    "d": lambda n: ["%d"],
    "H": lambda n: ["%H"],
    "h": lambda n: ["%I"],
    "m": lambda n: ["%M"],
    "s": lambda n: ["%S"],
    "a": lambda n: ["%p"],
    "S": lambda n: ["%f"],
    "y": lambda n: ["%y", "%Y"] if n == 2 else ["%Y"],
    "M": lambda n: ["%m"] if n <= 2 else (["%b", "%B"] if n == 3 else ["%B", "%b"]),
    "E": lambda n: ["%a", "%A"] if n <= 3 else ["%A", "%a"],
}


@lru_cache(maxsize=256)
def java_date_candidates(pattern: str) -> tuple[_Candidate, ...]:
    """Translate a Java ``SimpleDateFormat`` pattern to the ``strptime`` formats that parse like it.

    :raises ValueError: for a letter this emulator does not support.
    """
    pieces: list[list[str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:  # '' is a literal quote
                pieces.append(["'"])
                i += 2
                continue
            if end < 0:
                raise ValueError("unterminated quote in date pattern")
            pieces.append([pattern[i + 1 : end].replace("%", "%%")])
            i = end + 1
        elif char.isalpha():
            run = 1
            while i + run < len(pattern) and pattern[i + run] == char:
                run += 1
            if char not in _JAVA_LETTERS:
                raise ValueError(f"unsupported date pattern letter {char!r}")
            pieces.append(_JAVA_LETTERS[char](run))
            i += run
        else:
            pieces.append(["%%" if char == "%" else char])
            i += 1
    candidates = []
    for combo in itertools.product(*pieces):
        fmt = "".join(combo)
        candidates.append(
            _Candidate(
                fmt=fmt,
                two_digit_year="%y" in combo,
                has_time=any(p in combo for p in ("%H", "%I", "%M", "%S", "%f")),
            )
        )
    return tuple(candidates)


def _java_two_digit_year(two_digits: int, today: date) -> int:
    """Java's default century window: the 100 years starting 80 years before today."""
    start = today.year - 80
    year = (start // 100) * 100 + two_digits
    return year + 100 if year < start else year


class JavaDateParser:
    """Parse date strings like Act-On does with a ``SimpleDateFormat`` pattern; results are cached.

    :param pattern: the Java pattern (``dd MMM yyyy`` ...).
    """

    def __init__(self, pattern: str) -> None:
        self.candidates = java_date_candidates(pattern)
        self.today = date.today()
        self._cache: dict[str, str | None] = {}

    def parse(self, text: str) -> str | None:
        """The ISO date (or date-time) of ``text``, or ``None`` when it does not parse."""
        hit = self._cache.get(text, "")
        if hit != "":
            return hit
        result = self._parse(text.strip())
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[text] = result
        return result

    def _parse(self, text: str) -> str | None:
        for cand in self.candidates:
            try:
                parsed = datetime.strptime(text, cand.fmt)
                if cand.two_digit_year:
                    parsed = parsed.replace(year=_java_two_digit_year(parsed.year % 100, self.today))
            except ValueError:
                continue
            return parsed.isoformat() if cand.has_time else parsed.date().isoformat()
        return None
