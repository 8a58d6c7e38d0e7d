"""Run the simulator in the foreground: python -m tests.simulator --port N [--faults-rate R --seed S]"""

from __future__ import annotations

import argparse
import signal
import sys

from .server import Simulator


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.simulator", description=__doc__)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick a free one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--faults-rate", type=float, default=0.0, help="random fault rate per chat request")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--kinds", default=None, help="comma-separated fault kinds for random faults")
    p.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    p.add_argument("--key", action="append", default=None, help="valid API key (repeatable)")
    args = p.parse_args(argv)

    sim = Simulator(args.port, host=args.host, chunk_delay=args.chunk_delay,
                    valid_keys=set(args.key) if args.key else None)
    if args.faults_rate > 0:
        sim.random_faults(args.faults_rate, args.seed, args.kinds.split(",") if args.kinds else None)
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT explicitly: background jobs may ignore it
        signal.signal(sig, lambda *_: sim._stopping.set())
    sim.start()
    print(f"listening on {sim.base_url}", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
