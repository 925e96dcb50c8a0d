"""A hook gets its pool and its pacer when it is built; the delivery runner builds it for the sync."""

from __future__ import annotations

import json

import pytest

from airflow_provider_events.hooks.acton import ActOnHook
from airflow_provider_events.hooks.gainsight_px import GainsightPXHook
from airflow_provider_events.sync.pacing import MIN_POOL_SIZE
from airflow_provider_events.sync.runner import build_adapter
from airflow_provider_events.utils.ratelimit import SlidingWindowLimiter, TokenBucket

pytestmark = pytest.mark.usefixtures("tmp_state")


def test_a_limiter_given_at_construction_paces_the_hook() -> None:
    limiter = TokenBucket(7)
    assert GainsightPXHook("px", rate_limiter=limiter).rate_limiter is limiter


def test_a_limiter_given_to_acton_replaces_the_shared_account_limiter() -> None:
    limiter = TokenBucket(3)
    assert ActOnHook(rate_limiter=limiter).rate_limiter is limiter


def test_a_hook_built_without_a_limiter_makes_its_default_once(emulator) -> None:  # type: ignore[no-untyped-def]
    hook = GainsightPXHook(max_requests_per_second=40)
    assert hook.rate_limiter is hook.rate_limiter
    assert hook.rate_limiter.rate == 40


def test_the_runner_builds_a_per_event_hook_at_the_sync_pace(emulator) -> None:  # type: ignore[no-untyped-def]
    adapter = build_adapter("gainsight_px_default", None, 40, 12.5)
    assert isinstance(adapter.hook.rate_limiter, TokenBucket)
    assert adapter.hook.rate_limiter.rate == 12.5
    assert adapter.hook.pool_maxsize == 40
    assert build_adapter("gainsight_px_default", None, 2, 0).hook.rate_limiter.rate == 0  # 0: unpaced
    assert build_adapter("gainsight_px_default", None, 2).hook.pool_maxsize == MIN_POOL_SIZE


def test_the_runner_paces_at_the_connection_extra_when_the_sync_does_not_say(  # type: ignore[no-untyped-def]
    emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = emulator.connection("gainsight_px")
    conn["extra"]["max_requests_per_second"] = 33
    monkeypatch.setenv("AIRFLOW_CONN_GAINSIGHT_PX_DEFAULT", json.dumps(conn))
    assert build_adapter("gainsight_px_default").hook.rate_limiter.rate == 33


def test_the_runner_leaves_a_batch_vendor_its_own_account_limiter(emulator) -> None:  # type: ignore[no-untyped-def]
    hook = build_adapter("acton_default", {"destination": "d", "customeventaction": "CUSTOM_GENERAL"}).hook
    assert isinstance(hook.rate_limiter, SlidingWindowLimiter)
    assert hook.rate_limiter.rate == 5
