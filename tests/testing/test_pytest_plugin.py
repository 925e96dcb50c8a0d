"""The fixtures users enable with ``pytest_plugins``, run in an inner pytest session."""

from __future__ import annotations

pytest_plugins = ["pytester"]


def test_users_fixture_gives_fresh_state_and_default_connections(pytester):
    pytester.makeconftest('pytest_plugins = ["airflow_provider_events.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        import json, os
        import requests

        def test_send(events_emulator):
            conn = json.loads(os.environ["AIRFLOW_CONN_GAINSIGHT_PX_DEFAULT"])
            assert conn["host"] == events_emulator.base_url("gainsight_px")
            answer = requests.post(
                conn["host"] + "/events/custom",
                headers={"X-APTRINSIC-API-KEY": conn["password"]},
                json={"identifyId": "u1", "propertyKey": "AP-EMULATOR-2", "eventName": "e",
                      "userType": "USER"},
            )
            assert answer.status_code == 201
            assert events_emulator.emulator.vendor("gainsight_px").snapshot()["events_received"] == 1

        def test_state_is_fresh(events_emulator):
            assert events_emulator.emulator.vendor("gainsight_px").snapshot()["events_received"] == 0
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
