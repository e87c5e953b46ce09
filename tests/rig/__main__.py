"""Commands a person can run: ``python -m rig kafka start|stop|status``, ``python -m rig otelcol build|path``.

The Makefile wraps them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rig import kafka, otelcol


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rig", description="Local real components for kafka-backup.")
    sub = parser.add_subparsers(dest="component", required=True)
    k = sub.add_parser("kafka", help="a local Apache Kafka (KRaft) cluster")
    k.add_argument("action", choices=["start", "stop", "status", "fetch"])
    k.add_argument("--nodes", type=int, default=1)
    o = sub.add_parser("otelcol", help="the OpenTelemetry Collector built from collector/builder-config.yaml")
    o.add_argument("action", choices=["build", "path"])
    o.add_argument("--force", action="store_true", help="rebuild even when the cached binary is up to date")
    storage_components = ("s3", "gcs", "azure", "storage")
    words = sys.argv[1:] if argv is None else argv
    if not words or words[0] in storage_components or "-h" in words or "--help" in words:
        from rig import storage  # noqa: PLC0415 - needs the workspace's packages; `rig kafka fetch` must not

        storage.add_commands(sub)
    args = parser.parse_args(argv)
    try:
        if args.component in storage_components:
            from rig import storage  # noqa: PLC0415

            return storage.run_command(args.component, args.action)
        if args.component == "otelcol":
            return otelcol_command(args.action, args.force)
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


def otelcol_command(action: str, force: bool) -> int:
    if action == "path":
        print(otelcol.binary())
        return 0
    if not force and otelcol.is_built():
        print(f"{otelcol.BINARY} (cached)")
        return 0
    started = time.monotonic()
    path = otelcol.build(force=True)
    print(f"{path} (built in {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
