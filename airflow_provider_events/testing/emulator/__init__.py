"""A local emulator of the four vendor APIs, in the spirit of moto for AWS.

Use it in tests of DAGs that use this provider::

    from airflow_provider_events.testing.emulator import running_emulator

    with running_emulator(set_connections=True) as server:
        dag.test()
        received = server.emulator.vendor("gainsight_px").snapshot()

or from the shell: ``python -m airflow_provider_events.testing.emulator --port 8765``.
"""

from __future__ import annotations

from airflow_provider_events.testing.emulator.app import Emulator
from airflow_provider_events.testing.emulator.faults import FaultConfig
from airflow_provider_events.testing.emulator.server import (
    EmulatorProcess,
    EmulatorServer,
    free_port,
    running_emulator,
)

__all__ = ["Emulator", "EmulatorProcess", "EmulatorServer", "FaultConfig", "free_port", "running_emulator"]
