"""Commands a person can run: ``python -m rig kafka start|stop|status`` (the Makefile wraps them)."""

from __future__ import annotations

import argparse
import json
import sys

from rig import kafka


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rig", description="Local real components for kafka-backup.")
    sub = parser.add_subparsers(dest="component", required=True)
    k = sub.add_parser("kafka", help="a local Apache Kafka (KRaft) cluster")
    k.add_argument("action", choices=["start", "stop", "status", "fetch"])
    k.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if args.action == "fetch":
            print(kafka.kafka_lib_dir())
        elif args.action == "start":
            print(kafka.cmd_start(nodes=args.nodes))
        elif args.action == "stop":
            print("stopped" if kafka.cmd_stop() else "not running")
        else:
            state = kafka.read_state()
            if state is None:
                print("not running")
                return 1
            print(json.dumps(state, indent=2))
    except kafka.RigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
