"""``hook`` and ``base_url`` for the vendor a test file is named after.

Tests mirror the package, so one directory holds every vendor's tests of a kind
(``tests/hooks/test_carecloud.py`` beside ``tests/hooks/test_gainsight_px.py``). A test asking for ``hook``
gets the ``<vendor>_hook`` fixture of the vendor its file is named after (``test_<vendor>.py`` or
``test_<vendor>_<aspect>.py``); likewise ``base_url``. A file named after no vendor asks for
``<vendor>_hook`` directly, or defines its own ``hook``.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_events.vendors import BUILTIN_VENDORS


def vendor_of_test_file(request: pytest.FixtureRequest) -> str:
    """The vendor the requesting test file is named after."""
    stem = request.path.stem
    for vendor in (spec.conn_type for spec in BUILTIN_VENDORS):
        if stem == f"test_{vendor}" or stem.startswith(f"test_{vendor}_"):
            return vendor
    raise pytest.UsageError(
        f"{request.path.name} is named after no vendor: ask for <vendor>_{request.fixturename}"
    )


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Any:
    """The ``<vendor>_hook`` fixture of the vendor this test file is named after."""
    return request.getfixturevalue(f"{vendor_of_test_file(request)}_hook")


@pytest.fixture
def base_url(request: pytest.FixtureRequest) -> Any:
    """The ``<vendor>_base_url`` fixture of the vendor this test file is named after."""
    return request.getfixturevalue(f"{vendor_of_test_file(request)}_base_url")
