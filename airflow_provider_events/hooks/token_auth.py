"""The part every token vendor's hook (Act-On, CareCloud) shares: its token store and its token keeper.

A token vendor's hook subclasses :class:`TokenAuthHook` and says how to make its
:class:`~airflow_provider_events.hooks.token_keeper.TokenKeeper` (:meth:`~TokenAuthHook.new_token_keeper`:
the account key, the renewal margin, the login and refresh calls); the keeper is made once, on first use.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.connection_fields import AUTH_STORE_EXTRAS

if TYPE_CHECKING:
    from airflow_provider_events.hooks.token_keeper import TokenKeeper
    from airflow_provider_events.hooks.token_store import FileTokenStore, VariableTokenStore


class TokenAuthHook(BaseEventsHook):
    """A hook that authenticates with tokens shared through a token store.

    :param conn_id: the connection id.
    :param token_store: where tokens are shared (default: from the ``auth_store`` / ``token_store`` extra).
    :param kwargs: the HTTP core's options (see :class:`~airflow_provider_events.hooks.base.BaseEventsHook`).
    """

    #: a refreshed token can be revoked before its first use, and the second renewal (a password login) is
    #: what a revoked grant needs; a third 401 is a real refusal.
    max_reauthentications: ClassVar[int] = 2

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        token_store: FileTokenStore | VariableTokenStore | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id, **kwargs)
        self._token_store = token_store
        self._keeper: TokenKeeper | None = None
        self._keeper_lock = threading.Lock()

    @property
    def token_store(self) -> FileTokenStore | VariableTokenStore:
        """Where this hook shares its tokens: the given store, else the ``auth_store`` extra's
        (``auto`` by default; see :func:`~airflow_provider_events.hooks.token_store.token_store_for`)."""
        if self._token_store is None:
            from airflow_provider_events.hooks.token_store import token_store_for

            self._token_store = token_store_for(self.text_extra(AUTH_STORE_EXTRAS))
        return self._token_store

    @property
    def token_keeper(self) -> TokenKeeper:
        """The "peek, lock, renew" flow of this hook's account (made on first use)."""
        with self._keeper_lock:
            if self._keeper is None:
                self._keeper = self.new_token_keeper()
            return self._keeper

    def new_token_keeper(self) -> TokenKeeper:
        """The token keeper of this hook's account: its key, margin, and login (and refresh) calls."""
        raise NotImplementedError
