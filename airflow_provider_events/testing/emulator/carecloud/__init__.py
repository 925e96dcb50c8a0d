"""Emulator of the CRM CareCloud enterprise interface (events, event types, event properties, login).

Served below ``/carecloud/webservice/rest-api/enterprise-interface/v1.0``. Faithful to the vendor's OpenAPI
document (``crmcarecloud/api-spec``): every payload wrapped in ``{"data": ...}``, lists with
``total_items``, ``count``/``offset`` paging, ``sort_field``/``sort_direction``, project-local datetimes
without offset, and ``BasicError`` bodies (``invalid_params[]`` on 400, ``resource_name``/``resource_id`` on
404).

Authentication: ``POST /users/actions/login`` issues a bearer token valid for ``token_lifetime_seconds``
(default 7 h); every other route needs ``Authorization: Bearer <token>`` or, when ``basic_auth`` is on
(default), the deprecated ``Basic base64(user:sha256(md5(password) + UTC hour YYYYMMDDHH))`` (the current or
the previous hour is accepted).

Inferred behaviour (not stated by the vendor, kept simple and documented here): an unknown event type or
customer on ``POST /events`` is a 400 ``not_found`` on that parameter; property values are checked against
the property's ``data_type`` (strings ``"true"``/``"false"`` and numeric strings are accepted, as in the
vendor's own example); ``time_from``/``time_to`` filter on ``created_at``, both bounds inclusive; the
default list order is creation order.
"""

from __future__ import annotations

from airflow_provider_events.testing.emulator.carecloud.contract import (
    CUSTOMER_IDS,
    DEFAULT_APP_ID,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    DUPLICATE_MESSAGE,
    DUPLICATE_PARAM,
    EVENT_FIELDS,
    IDENTIFIER_TYPES,
    MAX_PROPERTY_RECORDS,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
    bad_request,
    basic_hash,
    check_property_value,
    error_body,
    invalid_param,
    new_id,
    normalize_datetime,
    not_found,
)
from airflow_provider_events.testing.emulator.carecloud.routes import CareCloudEmulator

__all__ = [
    "CUSTOMER_IDS",
    "DEFAULT_APP_ID",
    "DEFAULT_LOGIN",
    "DEFAULT_PASSWORD",
    "DUPLICATE_MESSAGE",
    "DUPLICATE_PARAM",
    "EVENT_FIELDS",
    "IDENTIFIER_TYPES",
    "MAX_PROPERTY_RECORDS",
    "NEWSLETTER_TYPE_ID",
    "PURCHASE_TYPE_ID",
    "CareCloudEmulator",
    "bad_request",
    "basic_hash",
    "check_property_value",
    "error_body",
    "invalid_param",
    "new_id",
    "normalize_datetime",
    "not_found",
]
