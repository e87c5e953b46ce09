"""Profile one backup under py-spy: ``python -m bench.profile --records 200000 --value-size 1024``.

Makes (or reuses) a topic ``bench-prof-<size>-<records>`` on ``--bootstrap``, runs ``kafka-backup backup`` under
``py-spy record`` (raw collapsed stacks, native frames with ``--native``) and prints the functions with the most
samples, inclusive and self, as shares of all samples. Profiles are relative figures: they stay useful on a busy
machine where absolute timings do not.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
from pathlib import Path

from bench.measure import run
from bench.tools import BIN, OURS, backup_config
from kafka_backup.engine.testing import DataSet, fill


def summarize(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")" for f in stack.split(";")
        ]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--native", action="store_true", help="include C frames (pyarrow, librdkafka)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("bench-results/profile.txt"))
    args = parser.parse_args(argv)

    data = DataSet(f"bench-prof-{args.value_size}-{args.records}", args.partitions, args.records, args.value_size)
    fill(args.bootstrap, data)
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        config = workdir / "backup.yaml"
        config.write_text(backup_config(args.bootstrap, data.topic, "profile", workdir / "store"))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [str(BIN / "py-spy"), "record", "-f", "raw", "-r", "200", "-o", str(args.out), "--idle"]
        cmd += ["--native"] if args.native else []
        cmd += ["--", OURS, "backup", "--config", str(config), "--json"]
        sample = run(cmd).check("py-spy")
        print(sample.stdout.strip().splitlines()[-1])
        print(f"wall {sample.wall_s:.1f} s, cpu {sample.cpu_s:.1f} s, peak rss {sample.peak_rss_mb:.0f} MB")
        print(summarize(args.out, args.top))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
