"""FastAPI dependencies shared by the vendor emulators: the "authenticate, page, filter" preambles.

A dependency that refuses a request raises :class:`Refused` with the vendor's own error response (each vendor
has its own error body); the emulator's app answers it as is. Dependencies are ``async`` so FastAPI runs them
on the event loop, not in its thread pool (that would cost the hot endpoints a thread hop per request).
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response


class Refused(Exception):
    """A route's preamble refused the request: answer with ``response`` (the vendor's error body)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answer_refusal(request: Request, exc: Exception) -> Response:
    """The app's exception handler for :class:`Refused`."""
    assert isinstance(exc, Refused)
    return exc.response


def authorization(request: Request) -> tuple[str, str]:
    """The ``Authorization`` header as (scheme in lower case, credentials stripped); ("", "") when absent."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower(), value.strip()
