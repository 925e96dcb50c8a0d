"""``python -m airflow_provider_events.testing.emulator``: serve the four vendor APIs on loopback."""

from __future__ import annotations

import argparse
import signal
import threading

from airflow_provider_events.testing.emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Serve the Act-On, ExpertSender CDP, CareCloud and "
        "Gainsight PX API emulator on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="extra random latency per request")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests/s per vendor before 429")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of 500/502/503 answers")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="fraction of connection resets")
    parser.add_argument("--vendor", action="append", help="apply the faults to this vendor only (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)

    server = EmulatorServer(args.port)
    faults = {
        "latency_ms": args.latency_ms,
        "jitter_ms": args.jitter_ms,
        "rate_limit": args.rate_limit,
        "error_rate": args.error_rate,
        "reset_rate": args.reset_rate,
    }
    for vendor in args.vendor or list(server.emulator.vendors):
        server.emulator.set_faults(vendor, **faults)
    server.start()
    if not args.quiet:
        print(f"emulator listening on {server.url} (admin: {server.url}/_admin/docs)")
        for vendor in server.emulator.vendors:
            print(f"  {vendor:<17} {server.base_url(vendor)}")
        print("# export these to point the default connections at the emulator:")
        for key, value in server.connection_env().items():
            print(f"export {key}='{value}'")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
