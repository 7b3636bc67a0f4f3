"""Command line of the emulator: ``python -m bsg_async.testing serve|demo``."""

from __future__ import annotations

import argparse
import sys
import time

from bsg_async.testing._emulator import DEFAULT_KEY, FakeBSG, Faults


def _serve(args: argparse.Namespace) -> int:
    fake = FakeBSG(
        seed_contacts=args.seed_contacts,
        seed=args.seed,
        token_ttl=args.token_ttl,
        faults=Faults.mixed(args.fault_rate, seed=args.seed),
    )
    with fake.serve(host=args.host, port=args.port) as server:
        print(f"BSG emulator listening on {server.base_url}")
        print(f"  test API key: {DEFAULT_KEY}")
        print(f"  contacts: {len(fake.contacts)}; fault rate: {args.fault_rate:.0%}")
        print(f"  export BSG_BASE_URL={server.base_url} BSG_API_KEY={DEFAULT_KEY}")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopped")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bsg_async.testing._demo import run_demo  # noqa: PLC0415 - imports the SDK

    return run_demo(existing=args.existing, imports=args.imports, fault_rate=args.fault_rate)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(
        prog="python -m bsg_async.testing", description="The embedded BSG emulator."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the emulator on a loopback port")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    serve.add_argument(
        "--seed-contacts", type=int, default=0, help="contacts generated at start (default: 0)"
    )
    serve.add_argument(
        "--seed", type=int, default=0, help="seed of the generated data (same seed, same data)"
    )
    serve.add_argument(
        "--token-ttl",
        type=float,
        default=3600.0,
        help="seconds a login's JWT lives (default: %(default)s)",
    )
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of requests answered with an injected fault: 500, HTML 502, 503 with"
        " Retry-After, or a dropped connection (0 to 1; default: 0)",
    )
    serve.set_defaults(run=_serve)
    demo = commands.add_parser("demo", help="run the SDK tour against a loopback emulator")
    demo.add_argument("--existing", type=int, default=5000, help="contacts already in the book")
    demo.add_argument("--imports", type=int, default=500, help="contacts the demo imports")
    demo.add_argument(
        "--fault-rate",
        type=float,
        default=0.2,
        help="share of requests failing during the resilient walk (default: %(default)s)",
    )
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
