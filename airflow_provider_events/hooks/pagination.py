"""Turn offset/count list endpoints into generators."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: ``fetch(offset, count)`` returns one page of items and the total the vendor reports (or ``None``).
PageFetcher = Callable[[int, int], tuple[Sequence[T], "int | None"]]


def paginate_offset(fetch: PageFetcher[T], *, page_size: int = 100, offset: int = 0) -> Iterator[T]:
    """Yield every item of an offset/count list endpoint, one page in memory at a time.

    Stops when the reported total is reached or a page comes back shorter than asked, whichever is first,
    so a vendor whose total drifts during the walk cannot make it loop forever.

    :param fetch: callable fetching one page.
    :param page_size: items asked for per page.
    :param offset: where to start.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    while True:
        items, total = fetch(offset, page_size)
        yield from items
        offset += len(items)
        if len(items) < page_size or (total is not None and offset >= total):
            return
