"""The shared token store: one refresh at a time across processes, owner-only files, no secret in repr."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

from airflow_provider_events.hooks.token_store import CachedToken, FileTokenStore, account_key


def _refresh_if_needed(directory: str, key: str, log_path: str) -> str:
    """What a hook does: under the lock, reuse a usable token or 'log in' (slowly) and save."""
    store = FileTokenStore(directory)
    with store.transaction(key) as slot:
        if slot.token is not None and slot.token.usable():
            return slot.token.access_token
        time.sleep(0.2)  # a slow login: other processes must wait, not log in too
        with open(log_path, "a") as log:
            log.write(f"login by {os.getpid()}\n")
        token = CachedToken(
            access_token=f"tok-{os.getpid()}", expires_at=time.time() + 3600, refresh_token="r1"
        )
        slot.save(token)
        return token.access_token


def test_concurrent_processes_log_in_once(tmp_path: Path) -> None:
    key = account_key("acton", "https://api.example.com", "user@example.com", "client")
    log_path = tmp_path / "logins.txt"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        tokens = pool.starmap(_refresh_if_needed, [(str(tmp_path / "store"), key, str(log_path))] * 8)
    assert log_path.read_text().count("login") == 1
    assert len(set(tokens)) == 1


def test_files_are_owner_only_and_repr_hides_secrets(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "store")
    with store.transaction("k") as slot:
        slot.save(CachedToken("secret-access", time.time() + 60, "secret-refresh"))
    path = tmp_path / "store" / "k.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    assert json.loads(path.read_text())["refresh_token"] == "secret-refresh"
    token = store.peek("k")
    assert token is not None
    assert "secret" not in repr(token)


def test_token_usability_margin() -> None:
    now = 1_000_000.0
    assert CachedToken("a", now + 120).usable(60, now=now)
    assert not CachedToken("a", now + 30).usable(60, now=now)
    assert not CachedToken("", now + 3600).usable(60, now=now)


def test_clear_forgets_the_token(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path)
    with store.transaction("k") as slot:
        slot.save(CachedToken("a", time.time() + 60))
    with store.transaction("k") as slot:
        assert slot.token is not None
        slot.clear()
    assert store.peek("k") is None
