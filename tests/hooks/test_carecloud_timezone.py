"""CareCloud's project-local times when the connection does not name the project's zone.

The emulator runs a non-UTC project and, seeded with ``connection_declares_timezone: false``, hands out a
connection without the ``timezone`` extra, as a user who skipped it would have.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_events.hooks import carecloud as carecloud_module
from airflow_provider_events.hooks.carecloud import DOCUMENTED_TOKEN_SECONDS, CareCloudHook
from airflow_provider_events.hooks.token_store import FileTokenStore
from airflow_provider_events.testing.emulator.carecloud import PURCHASE_TYPE_ID


def _connection_without_zone(emulator: Any, monkeypatch: pytest.MonkeyPatch, zone: str, **seed: Any) -> None:
    cc = emulator.emulator.vendor("carecloud")
    cc.seed({"timezone": zone, "connection_declares_timezone": False, **seed})
    conn = emulator.connection("carecloud")
    assert "timezone" not in conn["extra"]
    monkeypatch.setenv("AIRFLOW_CONN_CARECLOUD_DEFAULT", json.dumps(conn))
    monkeypatch.setattr(carecloud_module, "_WARNED_NO_TIMEZONE", set())


def test_east_of_utc_token_is_not_trusted_past_its_documented_life(
    emulator: Any, tmp_state: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """UTC+9: valid_to read as UTC would be 16 h away; the token is trusted 7 h, as long as it lives."""
    _connection_without_zone(emulator, monkeypatch, "Asia/Tokyo")
    hook = CareCloudHook()
    logged_in = time.time()
    hook.get_event_type(PURCHASE_TYPE_ID)
    CareCloudHook().get_event_type(PURCHASE_TYPE_ID)
    stored = FileTokenStore().peek(hook.token_key)
    assert stored is not None
    assert stored.expires_at <= logged_in + DOCUMENTED_TOKEN_SECONDS + 5
    assert stored.expires_at >= logged_in + DOCUMENTED_TOKEN_SECONDS - 30
    # once per connection and process, not per hook or call (task logs go to stdout here)
    assert capsys.readouterr().out.count("has no timezone extra") == 1


def test_west_of_utc_token_is_renewed_early_never_late(
    emulator: Any, tmp_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UTC-5 (no DST in Bogota): valid_to read as UTC is 5 h early; the token is renewed then, not after."""
    _connection_without_zone(emulator, monkeypatch, "America/Bogota")
    hook = CareCloudHook()
    logged_in = time.time()
    hook.get_event_type(PURCHASE_TYPE_ID)
    stored = FileTokenStore().peek(hook.token_key)
    assert stored is not None
    assert abs(stored.expires_at - (logged_in + DOCUMENTED_TOKEN_SECONDS - 5 * 3600)) < 30


def test_with_the_timezone_extra_valid_to_is_exact(
    emulator: Any, tmp_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cc = emulator.emulator.vendor("carecloud")
    cc.seed({"timezone": "Asia/Tokyo", "token_lifetime_seconds": 2 * 3600})
    conn = emulator.connection("carecloud")
    assert conn["extra"]["timezone"] == "Asia/Tokyo"
    monkeypatch.setenv("AIRFLOW_CONN_CARECLOUD_DEFAULT", json.dumps(conn))
    hook = CareCloudHook()
    logged_in = time.time()
    hook.get_event_type(PURCHASE_TYPE_ID)
    stored = FileTokenStore().peek(hook.token_key)
    assert stored is not None
    assert abs(stored.expires_at - (logged_in + 2 * 3600)) < 30


def test_unknown_zone_and_a_shorter_lifetime_cost_one_401_and_a_login(
    emulator: Any, tmp_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project east of UTC with 2-second tokens: the client believes the token longer than it lives,
    the vendor refuses it, and the client logs in again and carries on (the call succeeds)."""
    _connection_without_zone(emulator, monkeypatch, "Asia/Tokyo", token_lifetime_seconds=2)
    cc = emulator.emulator.vendor("carecloud")
    hook = CareCloudHook()
    hook.get_event_type(PURCHASE_TYPE_ID)
    cc.expire_tokens()  # what 2 s of wall time would do, without waiting for it
    assert hook.get_event_type(PURCHASE_TYPE_ID)
    assert cc.login_count == 2
    assert hook.login_count == 2
