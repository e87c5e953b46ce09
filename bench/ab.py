"""A/B rounds of the backup with engine tunables changed: ``python -m bench.ab --bootstrap B --topic T
--variant base:ENCODER_THREADS=0 --variant pipelined:ENCODER_THREADS=1``.

Each run is a fresh process (``python -m bench.ab --child``) that sets the module constants of the backup stage
(``kafka_backup.engine.backup.commit``, ``.ingest``, ``.run``, ``kafka_backup.engine.kafka.source``) given for its
variant, then runs the library backup of the topic with telemetry off.
Variants alternate (A B A B ...) and the report gives medians of wall time, CPU seconds and peak RSS, plus the
median of the per-round wall ratios, which cancels slow phases of a shared machine better than a ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import run


def child(bootstrap: str, topic: str, store: Path, settings: list[str], cli: bool) -> None:
    # after argument parsing, so --help stays fast
    import kafka_backup.engine.backup.run as engine  # noqa: PLC0415
    from kafka_backup.engine.backup import commit, ingest  # noqa: PLC0415
    from kafka_backup.engine.config.backup import BackupConfig  # noqa: PLC0415
    from kafka_backup.engine.kafka import source  # noqa: PLC0415

    for setting in settings:
        name, _, value = setting.partition("=")
        owner = next((m for m in (commit, ingest, engine, source) if hasattr(m, name)), None)
        if owner is None:
            raise SystemExit(f"the backup stage has no tunable {name}")
        setattr(owner, name, type(getattr(owner, name))(value))
    config = BackupConfig.model_validate(
        {
            "backup_id": "ab",
            "source": {"bootstrap_servers": bootstrap},
            "topics": {"include": [topic]},
            "storage": {"url": f"file://{store}"},
            "consumer_groups": {"capture": False},
        }
    )
    started = time.monotonic()
    if cli:  # the real command, with its default telemetry (Prometheus reader, client statistics)
        from kafka_backup.cli.main import main as cli_main  # noqa: PLC0415

        path = store.with_suffix(".yaml")
        path.write_text(config.model_dump_json())
        sys.argv = ["kafka-backup", "backup", "--config", str(path), "--json"]
        try:
            cli_main()
        except SystemExit as exc:
            if exc.code:
                raise
        return
    summary = engine.BackupRun(config).run()
    print(json.dumps({"records": summary.records, "segments": summary.segments, "run_s": time.monotonic() - started}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ab")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--variant", action="append", default=[], help="NAME:CONST=VALUE[,CONST=VALUE...]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli", action="store_true", help="run the kafka-backup command instead of the library")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.bootstrap, args.topic, args.store, args.set, args.cli)
        return 0

    variants = {v.partition(":")[0]: [s for s in v.partition(":")[2].split(",") if s] for v in args.variant}
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    env = {"KAFKA_BACKUP_LOG_LEVEL": "warning", **_passthrough()}
    if not args.cli:
        env["OTEL_SDK_DISABLED"] = "true"
    for r in range(args.rounds):
        for name, settings in variants.items():
            store = Path(tempfile.mkdtemp(prefix="bench-ab-"))
            try:
                cmd = [sys.executable, "-m", "bench.ab", "--child", "--bootstrap", args.bootstrap]
                cmd += ["--topic", args.topic, "--store", str(store), *(f"--set={s}" for s in settings)]
                cmd += ["--cli"] if args.cli else []
                sample = run(cmd, env=env).check(f"variant {name}")
            finally:
                shutil.rmtree(store, ignore_errors=True)
            out = json.loads(sample.stdout.strip().splitlines()[-1])
            out.setdefault("run_s", out.get("duration_seconds", sample.wall_s))
            fig = {"wall_s": sample.wall_s, "run_s": out["run_s"], "cpu_s": sample.cpu_s, "rss_mb": sample.peak_rss_mb}
            figures[name].append(fig | {"segments": out["segments"]})
            print(
                f"round {r + 1} {name:<12} run {out['run_s']:6.2f} s  wall {sample.wall_s:6.2f} s  "
                f"cpu {sample.cpu_s:6.2f} s  rss {sample.peak_rss_mb:5.0f} MB  segments {out['segments']}",
                flush=True,
            )
    base = next(iter(variants))
    for name, figs in figures.items():
        med = {k: statistics.median(f[k] for f in figs) for k in ("run_s", "wall_s", "cpu_s", "rss_mb")}
        ratios = [b["run_s"] / f["run_s"] for f, b in zip(figs, figures[base], strict=True)]
        print(
            f"{name:<12} median run {med['run_s']:.2f} s, cpu {med['cpu_s']:.2f} s, rss {med['rss_mb']:.0f} MB; "
            f"speed-up vs {base}: median of round ratios {statistics.median(ratios):.2f} "
            f"[{min(ratios):.2f}-{max(ratios):.2f}]"
        )
    return 0


def _passthrough() -> dict[str, str]:
    import os  # noqa: PLC0415

    return {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME", "LANG")}


if __name__ == "__main__":
    sys.exit(main())
