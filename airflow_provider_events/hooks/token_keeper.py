"""One "peek, lock, renew" flow for every hook whose vendor hands out expiring tokens (Act-On, CareCloud).

A hook asks its :class:`TokenKeeper` for an access token. The keeper answers, cheapest first:

1. the token this hook instance already holds, while it is usable (not within ``margin`` seconds of its
   expiry, and not refused by the vendor);
2. the token in the shared store (:mod:`~airflow_provider_events.hooks.token_store`), read without a lock;
3. under the store's lock: the store again (another process may have renewed meanwhile), else a renewal:
   the vendor's *refresh* grant when it has one, else a *login* (a password grant, the scarce one).

When the store is shared across hosts (Airflow Variables), there is no lock that spans hosts, so renewals
are coordinated optimistically:

* before renewing, the keeper writes a short *lease* next to the token; a keeper on another host that sees
  a fresh lease by someone else waits for that renewal's token instead of renewing too;
* two hosts may still write leases at the same moment: after writing, a keeper waits ``settle`` seconds
  and re-reads; the last writer renews, the other waits for its token;
* when the vendor refuses the stored refresh token (``invalid_grant``: single-use, another host just
  spent it), the keeper re-reads the store for the other host's new token before it spends a login.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from airflow_provider_events.exceptions import VendorAuthError
from airflow_provider_events.hooks.security import mask
from airflow_provider_events.hooks.token_store import (
    CachedToken,
    FileTokenStore,
    TokenSlot,
    VariableTokenStore,
)

#: seconds a lease keeps other hosts waiting (a renewal is one HTTP call; this bounds a crashed renewer).
LEASE_TTL = 60.0
#: seconds between a lease write and its re-read, to let a concurrent writer's lease land.
LEASE_SETTLE = 0.5
#: seconds to wait for another host's token after it announced a renewal or spent our refresh token.
PEER_WAIT = 30.0
#: seconds to look for another host's token after the vendor refused our refresh token without a lease.
REFUSED_REFRESH_WAIT = 3.0
POLL_INTERVAL = 0.2

Refresh = Callable[[CachedToken | None], CachedToken | None]
Login = Callable[[], CachedToken]


class TokenKeeper:
    """Hands out one account's access token to one hook instance (thread-safe).

    :param store: the account's store (file or Variable).
    :param key: the account's key in the store.
    :param margin: seconds before expiry at which a token is no longer handed out.
    :param login: obtains a new token with the account's credentials (a password grant).
    :param refresh: renews from the stored token (e.g. a refresh grant); returns ``None`` when the vendor
        refused every refresh token it tried (``invalid_grant``), raises for any other failure.
    :param logger: where to log what happened (counts and ids only, never a token).
    :param peer_wait: seconds to wait for a renewal announced by another host.
    """

    def __init__(
        self,
        store: FileTokenStore | VariableTokenStore,
        key: str,
        *,
        margin: float,
        login: Login,
        refresh: Refresh | None = None,
        logger: logging.Logger | Any = None,
        peer_wait: float = PEER_WAIT,
    ) -> None:
        self.store = store
        self.key = key
        self.margin = margin
        self._login = login
        self._refresh = refresh
        self.log = logger or logging.getLogger(__name__)
        self.peer_wait = peer_wait
        self.owner = uuid.uuid4().hex
        self._token: CachedToken | None = None
        self._rejected: set[str] = set()
        self._lock = threading.Lock()
        self._handed = threading.local()
        #: what this keeper did: logins, refreshes, tokens found in the store, tokens another host renewed.
        self.stats: dict[str, int] = {
            "password_grants": 0,
            "refresh_grants": 0,
            "store_hits": 0,
            "peer_tokens": 0,
        }

    # ------------------------------------------------------------------ public
    def access_token(self) -> str:
        """A usable access token (from this keeper, the store, or a renewal); remembered per thread."""
        with self._lock:
            token = self._current()
        self._handed.token = token
        return token

    def last_handed(self) -> str | None:
        """The access token this thread was last given (what its request carried)."""
        return getattr(self._handed, "token", None)

    def reject(self, access_token: str | None = None) -> None:
        """The vendor refused ``access_token`` (default: this thread's last one): never hand it out again.

        Only this keeper's copy is dropped, and only if it is that token (a late 401 for an old token
        does not discard a fresh one); the store keeps the entry, whose refresh token may still work.
        """
        rejected = access_token if access_token is not None else self.last_handed()
        with self._lock:
            if rejected:
                self._rejected.add(rejected)
            if self._token is not None and self._token.access_token == rejected:
                self._token = None

    # ------------------------------------------------------------------ flow
    def _acceptable(self, token: CachedToken | None) -> bool:
        return token is not None and token.usable(self.margin) and token.access_token not in self._rejected

    def _adopt(self, token: CachedToken) -> str:
        mask(token.access_token)
        mask(token.refresh_token)
        self._token = token
        return token.access_token

    def _current(self) -> str:
        if self._token is not None and self._acceptable(self._token):
            return self._token.access_token
        stored = self.store.peek(self.key)
        if self._acceptable(stored):
            assert stored is not None
            self.stats["store_hits"] += 1
            return self._adopt(stored)
        with self.store.transaction(self.key) as slot:
            if self._acceptable(slot.token):
                assert slot.token is not None
                self.stats["store_hits"] += 1
                return self._adopt(slot.token)
            return self._adopt(self._renew(slot))

    def _renew(self, slot: TokenSlot) -> CachedToken:
        """Refresh or log in, and save the result; called with this host's lock held."""
        shared = self.store.shared_across_hosts
        previous = slot.token
        if shared:
            peer = self._claim(slot)
            if peer is not None:
                return peer
        try:
            if self._refresh is not None:
                refreshed = self._refresh(slot.token)
                if refreshed is not None:
                    self.stats["refresh_grants"] += 1
                    slot.save(refreshed)
                    return refreshed
                if shared:  # our refresh token was refused: maybe another host has just spent it
                    peer = self._wait_for_peer(previous, REFUSED_REFRESH_WAIT, require_lease=False)
                    if peer is not None:
                        slot.save(peer)
                        return peer
            token = self._login()
        except VendorAuthError:
            slot.clear()  # the stored token cannot be renewed: start from the credentials next time
            raise
        except BaseException:
            if shared:  # drop our lease so other hosts do not wait for a renewal that failed
                if previous is not None:
                    slot.save(previous)
                else:
                    slot.clear()
            raise
        self.stats["password_grants"] += 1
        slot.save(token)
        return token

    def _claim(self, slot: TokenSlot) -> CachedToken | None:
        """Take the renewal lease, or return the token another host's renewal produced."""
        lease = slot.lease
        if lease is not None and lease.owner != self.owner and lease.fresh(LEASE_TTL):
            peer = self._wait_for_peer(slot.token, self.peer_wait, require_lease=True)
            if peer is not None:
                return peer
        slot.take_lease(self.owner)
        time.sleep(LEASE_SETTLE)
        lease = self.store.peek_lease(self.key)
        if lease is not None and lease.owner != self.owner:
            self.log.info("Another worker is renewing the token of this account; waiting for its token")
            peer = self._wait_for_peer(slot.token, self.peer_wait, require_lease=True)
            if peer is not None:
                return peer
            slot.take_lease(self.owner)
        return None

    def _wait_for_peer(
        self, previous: CachedToken | None, timeout: float, *, require_lease: bool
    ) -> CachedToken | None:
        """Poll the store for a usable token other than ``previous``; ``None`` after ``timeout`` seconds,
        or (``require_lease``) as soon as no other host's fresh lease is left to wait for."""
        deadline = time.monotonic() + timeout
        while True:
            stored = self.store.peek(self.key)
            if self._acceptable(stored) and (
                previous is None or stored is None or stored.access_token != previous.access_token
            ):
                assert stored is not None
                self.stats["peer_tokens"] += 1
                self.log.info("Using the token another worker just obtained for this account")
                return stored
            if require_lease:
                lease = self.store.peek_lease(self.key)
                if lease is None or lease.owner == self.owner or not lease.fresh(LEASE_TTL):
                    return None
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL)
