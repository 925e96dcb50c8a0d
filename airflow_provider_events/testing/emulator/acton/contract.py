"""Act-On's contract as the emulator reproduces it: fixture credentials, enums, limits and error bodies."""

from __future__ import annotations

import itertools
import re

from fastapi.responses import JSONResponse

DEFAULT_USERNAME = "emulator@example.com"
DEFAULT_PASSWORD = "emulator-password"  # noqa: S105 - the emulator's fixture
DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105

SEPARATORS = {"TAB": "\t", "COMMA": ",", "SEMICOLON": ";", "SPACE": " "}
QUOTE_CHARACTERS: dict[str, str | None] = {"NONE": None, "SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}
FIRSTROW_VALUES = ("Y", "N")
CUSTOM_EVENT_ACTIONS = (
    "CUSTOM_DOWNLOADED",
    "CUSTOM_REGISTERED",
    "CUSTOM_ATTENDED",
    "CUSTOM_GENERAL",
    "CUSTOM_GENERAL1",
    "CUSTOM_GENERAL2",
    "CUSTOM_GENERAL3",
    "CUSTOM_GENERAL4",
    "CUSTOM_GENERAL5",
)
#: the date patterns listed by the upload documentation (slash, dash, textual month).
DOCUMENTED_DATE_FORMATS = (
    "MM/dd/yyyy",
    "dd/MM/yyyy",
    "MM/dd/yy",
    "dd/MM/yy",
    "yyyy/MM/dd",
    "MM-dd-yyyy",
    "dd-MM-yyyy",
    "MM-dd-yy",
    "dd-MM-yy",
    "yyyy-MM-dd",
    "dd MMM yyyy",
    "MMM dd yyyy",
    "dd MMMM yyyy",
    "EEE, dd MMM yyyy",
    "EEEE, dd MMMM yyyy",
)
LISTING_TYPES = (
    "contact_list",
    "header",
    "footer",
    "sender",
    "media",
    "pages",
    "custom_events",
    "template_message",
    "draft_message",
    "landing_page",
    "sent_message",
    "triggered_message",
    "test_message",
    "failed_message",
    "scheduled_message",
)
MAX_LIST_COUNT = 1000
#: room for the form fields and multipart framing around the file when checking the body size early.
FORM_SLACK_BYTES = 1024 * 1024
GATEWAY_401_INFO = (
    "Cannot pass the security checks that are required by the target API or operation, "
    "Enable debug headers for more details."
)
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
UINT_RE = re.compile(r"^[0-9]+$")
JOB_IDS = itertools.count(15_937_380)  # process-wide: a job id never comes back after a reset


def is_valid_email(value: str) -> bool:
    """A plausible ASCII e-mail address (surrounding blanks ignored, at most 254 characters)."""
    value = value.strip()
    return len(value) <= 254 and _EMAIL_RE.match(value) is not None


def api_error(code: int, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def gateway_error(
    status: int, message: str, info: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"httpCode": str(status), "httpMessage": message, "moreInformation": info},
        status_code=status,
        headers=headers,
    )


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def parse_bool(value: str) -> bool | None:
    low = value.strip().lower()
    if low in ("true", "y", "yes", "1"):
        return True
    if low in ("false", "n", "no", "0"):
        return False
    return None
