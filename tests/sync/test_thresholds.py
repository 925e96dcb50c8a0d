"""The one threshold rule (``sync/thresholds.py``) and every place that applies it."""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.sync.thresholds import DEFAULT_MAX_RATIO, Threshold, describe, exceeded_limits


def test_default_is_any_reject_fails() -> None:
    assert DEFAULT_MAX_RATIO == 0.0
    assert exceeded_limits(0, 100, None, None) == []
    assert exceeded_limits(1, 100, None, None) == ["max_rejected_ratio=0"]


def test_count_alone_governs() -> None:
    assert exceeded_limits(3, 10, 3, None) == []
    assert exceeded_limits(4, 10, 3, None) == ["max_rejected=3"]


def test_ratio_alone_governs() -> None:
    assert exceeded_limits(1, 10, None, 0.1) == []
    assert exceeded_limits(2, 10, None, 0.1) == ["max_rejected_ratio=0.1"]
    assert exceeded_limits(10, 10, None, 1.0) == []  # 1: no limit


def test_both_limits_and_a_zero_ratio_next_to_a_count() -> None:
    assert exceeded_limits(5, 10, 2, 0.1) == ["max_rejected=2", "max_rejected_ratio=0.1"]
    assert exceeded_limits(2, 10, 2, 0.0) == []  # the count governs
    assert Threshold.resolve(2, 0.0) == Threshold(2, None)


def test_nothing_read_exceeds_no_ratio() -> None:
    assert exceeded_limits(0, 0, None, None) == []


def test_other_counters_use_the_same_rule() -> None:
    assert exceeded_limits(2, 10, 1, None, name="in_doubt") == ["max_in_doubt=1"]
    assert describe(2, 10, ["max_in_doubt=1"], name="in_doubt") == (
        "2 of 10 rows in doubt (20.00%), over max_in_doubt=1"
    )


@pytest.mark.parametrize(("count", "ratio", "message"), [(-1, None, "max_rejected"), (None, 2, "ratio")])
def test_bad_limits_are_refused(count: int | None, ratio: float | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Threshold.resolve(count, ratio)


def test_every_operator_has_one_default() -> None:
    """No operator or sensor sets its own default: ``None`` everywhere, resolved by the rule."""
    from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
    from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
    from airflow_provider_events.operators.expertsender_cdp import ExpertSenderCdpScenarioEventsOperator
    from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator
    from airflow_provider_events.operators.sync import SqlToEventsOperator
    from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor
    from airflow_provider_events.sync.engine import SyncOptions

    for cls in (ActOnUploadCustomEventsOperator, ActOnCustomEventJobSensor, SqlToEventsOperator, SyncOptions):
        params = inspect.signature(cls).parameters
        assert params["max_rejected"].default is None, cls
        assert params["max_rejected_ratio"].default is None, cls
    for vendor in (
        CareCloudCreateEventsOperator,
        ExpertSenderCdpScenarioEventsOperator,
        GainsightPXSendCustomEventsOperator,
    ):
        assert issubclass(vendor, SqlToEventsOperator)  # their thresholds are SqlToEventsOperator's
