"""``POST /events``: the checks CareCloud makes on a new event, then its storage (called under the lock)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from airflow_provider_events.testing.emulator.carecloud.contract import (
    DUPLICATE_MESSAGE,
    DUPLICATE_PARAM,
    IDENTIFIER_TYPES,
    MAX_PROPERTY_RECORDS,
    bad_request,
    check_property_value,
    invalid_param,
    normalize_datetime,
)
from airflow_provider_events.testing.emulator.carecloud.state import CareCloudState


def resolve_customer(
    customers: Mapping[str, Mapping[str, Any]], event: Mapping[str, Any], params: list[dict[str, Any]]
) -> str | None:
    customer_id = event.get("customer_id")
    id_type = event.get("customer_identifier_type")
    id_value = event.get("customer_identifier_value")
    if customer_id not in (None, "") and (id_type is not None or id_value is not None):
        params.append(
            invalid_param(
                "customer_id",
                "not_allowed_value",
                "Use either customer_id or a customer identifier (type and value), not both",
            )
        )
        return None
    if customer_id not in (None, ""):
        if not isinstance(customer_id, str) or customer_id not in customers:
            params.append(invalid_param("customer_id", "not_found", "Customer not found", customer_id))
            return None
        return customer_id
    if id_type is None and id_value is None:
        params.append(
            invalid_param("customer_id", "required", "customer_id or a customer identifier is required")
        )
        return None
    if id_type not in IDENTIFIER_TYPES:
        params.append(
            invalid_param(
                "customer_identifier_type",
                "not_allowed_value",
                "Possible values are email / phone / external_id",
                id_type,
            )
        )
        return None
    if id_value in (None, ""):
        params.append(
            invalid_param("customer_identifier_value", "required", "customer_identifier_value is required")
        )
        return None
    if id_type == "external_id":
        if (
            not isinstance(id_value, Mapping)
            or not id_value.get("customer_source_id")
            or not id_value.get("external_id")
        ):
            params.append(
                invalid_param(
                    "customer_identifier_value",
                    "invalid_value_format",
                    "An object with customer_source_id and external_id is required",
                )
            )
            return None
        wanted = {
            "customer_source_id": id_value["customer_source_id"],
            "external_id": id_value["external_id"],
        }
        matches = [c for c in customers.values() if wanted in c["external_ids"]]
    else:
        if not isinstance(id_value, str):
            params.append(
                invalid_param(
                    "customer_identifier_value",
                    "invalid_value_format",
                    f"A string is required for type {id_type}",
                )
            )
            return None
        matches = [c for c in customers.values() if c.get(id_type) == id_value]
    if not matches:
        params.append(invalid_param("customer_identifier_value", "not_found", "Customer not found"))
        return None
    found: str = matches[0]["customer_id"]
    return found


def create_event(emu: CareCloudState, body: Any) -> JSONResponse:
    if not isinstance(body, Mapping) or not isinstance(body.get("event"), Mapping):
        return bad_request([invalid_param("event", "required", "Parameter event is required")])
    event = body["event"]
    params: list[dict[str, Any]] = []
    event_type_id = event.get("event_type_id")
    if not event_type_id:
        params.append(invalid_param("event_type_id", "required", "Parameter event_type_id is required"))
    elif event_type_id not in emu.event_types:
        params.append(invalid_param("event_type_id", "not_found", "Event type not found", event_type_id))
    external_id = event.get("external_id")
    if external_id in (None, ""):
        params.append(invalid_param("external_id", "required", "Parameter external_id is required"))
    elif not isinstance(external_id, str):
        params.append(invalid_param("external_id", "invalid_value_format", "external_id must be a string"))
    secondary = event.get("secondary_external_id")
    if secondary is not None and not isinstance(secondary, str):
        params.append(invalid_param("secondary_external_id", "invalid_value_format", "Must be a string"))
    for readonly in ("event_id", "state"):
        if readonly in event:
            params.append(invalid_param(readonly, "not_allowed_value", f"{readonly} is read-only"))
    data = event.get("data")
    if data is not None and not (
        isinstance(data, (str, Mapping)) or (isinstance(data, list) and all(isinstance(x, str) for x in data))
    ):
        params.append(
            invalid_param("data", "invalid_value_format", "data is a string, array of strings or object")
        )
    created_at = event.get("created_at")
    if created_at is not None and normalize_datetime(created_at) is None:
        params.append(
            invalid_param(
                "created_at",
                "invalid_value_format",
                "Format YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS",
                created_at,
            )
        )
    customer_id = resolve_customer(emu.customers, event, params)
    records = body.get("property_records") or []
    if not isinstance(records, list):
        params.append(
            invalid_param("property_records", "invalid_value_format", "property_records is an array")
        )
        records = []
    elif len(records) > MAX_PROPERTY_RECORDS:
        params.append(
            invalid_param(
                "property_records",
                "not_allowed_value",
                f"At most {MAX_PROPERTY_RECORDS} property records",
            )
        )
        records = []
    allowed = set(emu.type_properties.get(str(event_type_id), []))
    seen: set[str] = set()
    for index, record in enumerate(records):
        pid = record.get("property_id") if isinstance(record, Mapping) else None
        if not pid:
            params.append(
                invalid_param(f"property_records[{index}].property_id", "required", "property_id is required")
            )
            continue
        if pid not in allowed:
            params.append(
                invalid_param(
                    f"property_records[{index}].property_id",
                    "not_found",
                    f"Property {pid} does not belong to the event type",
                    pid,
                )
            )
            continue
        seen.add(pid)
        why = check_property_value(record.get("property_value"), emu.properties[pid])
        if why:
            params.append(
                invalid_param(
                    f"property_records[{index}].property_value",
                    "invalid_value_format",
                    f"Property {pid}: {why}",
                    record.get("property_value"),
                )
            )
    if event_type_id in emu.event_types:
        for pid in allowed - seen:
            if emu.properties[pid].get("is_required"):
                params.append(
                    invalid_param("property_records", "required", f"Property {pid} is required", pid)
                )
    if params:
        emu.counters["invalid"] += 1
        return bad_request(params)
    fields = {
        "event_type_id": event_type_id,
        "customer_id": customer_id,
        "external_id": external_id,
        "secondary_external_id": secondary,
        "data": data,
        "created_at": created_at,
    }
    if emu.is_duplicate(fields):
        emu.counters["duplicates"] += 1
        return bad_request(
            [invalid_param(DUPLICATE_PARAM, "relation_already_exists", DUPLICATE_MESSAGE)],
            detail="Relation already exists",
        )
    stored = emu.store_event(fields, records)
    emu.counters["created"] += 1
    return JSONResponse({"data": {"event_id": stored["event_id"]}}, status_code=201)
