"""Provider registration: what Airflow's providers manager sees, and that the UI forms are well formed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_events import __version__
from airflow_provider_events.get_provider_info import get_provider_info

CONN_TYPES = {
    "acton": "airflow_provider_events.hooks.acton.ActOnHook",
    "expertsender_cdp": "airflow_provider_events.hooks.expertsender_cdp.ExpertSenderCdpHook",
    "carecloud": "airflow_provider_events.hooks.carecloud.CareCloudHook",
    "gainsight_px": "airflow_provider_events.hooks.gainsight_px.GainsightPXHook",
}


def test_provider_info_matches_airflows_schema():
    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_imports_and_every_hook_class_matches_its_conn_type():
    info = get_provider_info()
    assert info["versions"] == [__version__]
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    registered = {c["connection-type"]: c["hook-class-name"] for c in info["connection-types"]}
    assert registered == CONN_TYPES
    for conn_type, path in registered.items():
        module, cls = path.rsplit(".", 1)
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn_type
        assert hook.default_conn_name == f"{conn_type}_default"


def test_providers_manager_registers_four_connection_types_with_their_forms():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "airflow-provider-events" in manager.providers
    hooks = ProvidersManagerTaskRuntime().hooks
    behaviours = manager.field_behaviours
    widgets = manager.connection_form_widgets
    for conn_type, path in CONN_TYPES.items():
        assert hooks[conn_type].hook_class_name == path
        assert conn_type in behaviours
    assert behaviours["expertsender_cdp"]["relabeling"]["password"] == "API key"
    assert behaviours["gainsight_px"]["relabeling"]["password"] == "REST API key"
    assert "login" in behaviours["gainsight_px"]["hidden_fields"]
    assert widgets["extra__acton__client_secret"].is_sensitive
    # an identifier shown in CareCloud's admin UI, not a secret (issue 20); the hook still masks it in logs
    assert not widgets["extra__carecloud__external_application_id"].is_sensitive
    assert not widgets["extra__acton__client_id"].is_sensitive


@pytest.mark.parametrize("conn_type", sorted(CONN_TYPES))
def test_secret_fields_are_marked_as_passwords(conn_type):
    form = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    for name, field in form["conn-fields"].items():
        if name in ("client_secret", "refresh_token"):
            assert field["schema"].get("format") == "password", name


@pytest.mark.parametrize("conn_type", sorted(CONN_TYPES))
def test_hooks_give_the_same_form_to_airflow_before_3_2(conn_type):
    module, cls = CONN_TYPES[conn_type].rsplit(".", 1)
    behaviour = getattr(importlib.import_module(module), cls).get_ui_field_behaviour()
    form = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    assert behaviour["hidden_fields"] == form["ui-field-behaviour"]["hidden-fields"]
    assert behaviour["relabeling"] == form["ui-field-behaviour"]["relabeling"]


@pytest.mark.parametrize("conn_type", sorted(CONN_TYPES))
def test_forms_share_one_convention(conn_type):
    """Issue 20: lower-case regions, a visible pacing default, every number's default named, a port field."""
    form = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    fields = form["conn-fields"]
    if "region" in fields:
        assert fields["region"]["schema"]["enum"] == [v.lower() for v in fields["region"]["schema"]["enum"]]
        assert fields["region"]["schema"]["default"] == "us"
    assert "default" in fields["max_requests_per_second"]["schema"]
    for name, field in fields.items():
        if "number" in field["schema"]["type"]:
            default = field["schema"]["default"]
            shown = int(default) if float(default).is_integer() else default
            assert f"Default {shown}." in field["description"], name
    behaviour = form["ui-field-behaviour"]
    assert "port" not in behaviour["hidden-fields"]
    assert behaviour["placeholders"]["port"] == "443"
    assert all(len(text) <= 60 for text in behaviour["placeholders"].values())


@pytest.mark.parametrize("conn_type", sorted(CONN_TYPES))
def test_airflow_masks_exactly_the_secret_fields(conn_type):
    """Airflow's UI shows and saves ``***`` for an extra whose key looks secret: only secrets may look so."""
    from airflow._shared.secrets_masker import should_hide_value_for_key

    form = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    for name, field in form["conn-fields"].items():
        assert should_hide_value_for_key(name) == (field["schema"].get("format") == "password"), name
