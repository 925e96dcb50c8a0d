"""Test support: the vendor emulator, the sample warehouse and the demo. Runtime code never imports it."""
