"""Test support shipped with the provider: the vendor emulator and a pytest fixture. Never imported at runtime."""
