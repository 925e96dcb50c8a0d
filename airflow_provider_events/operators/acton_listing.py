"""The Act-On listing operator: the account's custom-event listings exported to JSON Lines or CSV."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_events.hooks.acton import ActOnHook
from airflow_provider_events.operators._listing import ListingLineage, check_page_size

#: columns of a CSV export of custom-event listings, in order.
DESTINATION_CSV_COLUMNS = ("id", "name", "title", "folderName", "description", "sourceSize", "tsLastModified")


class ActOnListCustomEventDestinationsOperator(ListingLineage, BaseOperator):
    """Stream Act-On's custom-event listings (destinations) and their titles to a JSON Lines or CSV file.

    Reads ``GET /api/1/list?listingtype=custom_events`` page by page (``count``/``offset``, up to 1000 per
    request) and writes each listing as it comes. Each record keeps the fields Act-On returns (``id``,
    ``name``, ``folderName``, ``description``, ``sourceSize`` = its number of events, ``tsLastModified``
    ...) plus ``title``: the title Act-On gives the listing, else its name (the unique display name the UI
    shows, and what ``destination`` of the upload operators refers to). The API has no filters: ``names``,
    ``name_pattern`` and ``folder_name`` are applied here. Returns ``{"count": N, "path": output_path}``.

    :param output_path: a local path or any ``ObjectStoragePath`` URI (templated).
    :param file_format: ``jsonl`` or ``csv``; default from the path's suffix (templated).
    :param names: only these listings (exact names) (templated).
    :param name_pattern: only listings whose name matches this shell-style pattern, case-insensitively,
        e.g. ``"Webinar*"`` (templated).
    :param folder_name: only listings in this folder (templated).
    :param page_size: listings per request, 1..1000.
    :param acton_conn_id: the ``acton`` connection id.
    """

    template_fields: Sequence[str] = ("output_path", "file_format", "names", "name_pattern", "folder_name")
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        output_path: str,
        file_format: str | None = None,
        names: Sequence[str] | None = None,
        name_pattern: str | None = None,
        folder_name: str | None = None,
        page_size: int = 1000,
        acton_conn_id: str = ActOnHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_path = output_path
        self.file_format = file_format
        self.names = names
        self.name_pattern = name_pattern
        self.folder_name = folder_name
        self.page_size = check_page_size(page_size)
        self.acton_conn_id = acton_conn_id

    def _selected(self, listings: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from fnmatch import fnmatchcase

        names = {self.names} if isinstance(self.names, str) else set(self.names or ())
        pattern = str(self.name_pattern).casefold() if self.name_pattern else None
        for listing in listings:
            name = str(listing.get("name") or "")
            if names and name not in names:
                continue
            if pattern is not None and not fnmatchcase(name.casefold(), pattern):
                continue
            if self.folder_name and listing.get("folderName") != self.folder_name:
                continue
            if listing.get("title") in (None, ""):
                listing["title"] = name
            yield listing

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_events.operators._listing import (
            export_records,
            listing_result,
            resolve_format,
        )

        path = str(self.output_path)
        fmt = resolve_format(path, self.file_format)
        hook = ActOnHook(self.acton_conn_id)
        try:
            listings = hook.list_custom_event_destinations(page_size=self.page_size)
            count = export_records(self._selected(listings), path, fmt, DESTINATION_CSV_COLUMNS)
        finally:
            hook.close()
        self.log.info("Wrote %d Act-On custom-event listings as %s", count, fmt)
        return listing_result(self, count, path)

    def _lineage_source(self) -> tuple[str, dict[str, Any]]:
        """OpenLineage (see :class:`ListingLineage`): the account's custom-event listings."""
        return self.acton_conn_id, {}
