"""How a plug-in adds the fifth vendor: one public call, nothing in the provider edited."""

from __future__ import annotations

from airflow_provider_events.vendors import VendorSpec, register_vendor, unregister_vendor

PULSE = VendorSpec(
    conn_type="pulse",
    display_name="Pulse",
    hook_class="tests.fifth_vendor.hook:PulseHook",
    adapter_class="tests.fifth_vendor.adapter:PulseAdapter",
    docs_url="https://pulse.invalid/docs",
)


def register() -> None:
    """Register Pulse with the provider's vendor registry."""
    register_vendor(PULSE)


def unregister() -> None:
    unregister_vendor(PULSE.conn_type)
