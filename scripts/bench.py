#!/usr/bin/env python3
"""Reproduces the figures of docs/PERFORMANCE.md.

For each size: populate a SQLite database, then run side by side, 3 times
each (medians reported): our backup to file://, the shell pipeline
`sqlite3 DB "select value from BenchData" | gzip -6`, our backup to the
in-process S3 server, and a restore into an empty database. Wall time and
peak RSS come from /usr/bin/time.

    python3 scripts/bench.py                   # 100k and 1M records
    SIZES="100000 1000000 10000000" python3 scripts/bench.py
"""

import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/examples/bench_backup")
DIR = os.environ.get("BENCH_DIR", "/tmp/gludb-bench")
SIZES = [int(n) for n in os.environ.get("SIZES", "100000 1000000").split()]
RUNS = int(os.environ.get("RUNS", "3"))


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS MiB, stdout)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "TIME %e %M"] + cmd,
        check=True, capture_output=True, text=True,
    )
    line = [l for l in out.stderr.splitlines() if l.startswith("TIME ")][-1]
    _, seconds, kib = line.split()
    return float(seconds), int(kib) / 1024, out.stdout


def figures(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def main():
    subprocess.run(["cargo", "build", "--release", "--example", "bench_backup"], cwd=ROOT, check=True)
    os.makedirs(DIR, exist_ok=True)
    rows = []
    for n in SIZES:
        db = os.path.join(DIR, f"bench-{n}.sqlite")
        print(figures(subprocess.run([BIN, "populate", "--records", str(n), "--db", db],
                                     check=True, capture_output=True, text=True).stdout), file=sys.stderr)
        ours, pipe, s3, restore = [], [], [], []
        for run in range(RUNS):
            out_dir = os.path.join(DIR, f"out-{n}")
            shutil.rmtree(out_dir, ignore_errors=True)
            seconds, rss, stdout = timed([BIN, "backup", "--db", db, "--url", f"file://{out_dir}"])
            f = figures(stdout)
            ours.append((f["seconds"], seconds, rss, f["archive_bytes"], f["key"], out_dir))

            gz = os.path.join(DIR, "pipeline.gz")
            seconds, rss, _ = timed(["sh", "-c", f"sqlite3 {db} 'select value from BenchData' | gzip -6 > {gz}"])
            pipe.append((seconds, rss, os.path.getsize(gz)))

            seconds, rss, stdout = timed([BIN, "backup", "--db", db, "--in-process-s3", "--url", f"file://bench-{n}"])
            s3.append((figures(stdout)["seconds"], seconds, rss))

            target = os.path.join(DIR, f"restored-{n}.sqlite")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(target + suffix):
                    os.remove(target + suffix)
            key, url = ours[-1][4], f"file://{ours[-1][5]}"
            seconds, rss, stdout = timed([BIN, "restore", "--db", target, "--url", url, "--key", key])
            restore.append((figures(stdout)["seconds"], seconds, rss))

        med = lambda xs, i: statistics.median(x[i] for x in xs)
        row = {
            "records": n,
            "ours_s": med(ours, 0), "ours_process_s": med(ours, 1), "ours_rss_mib": max(x[2] for x in ours),
            "ours_bytes": med(ours, 3),
            "pipeline_s": med(pipe, 0), "pipeline_rss_mib": max(x[1] for x in pipe), "pipeline_bytes": med(pipe, 2),
            "s3_s": med(s3, 0), "s3_rss_mib": max(x[2] for x in s3),
            "restore_s": med(restore, 0), "restore_process_s": med(restore, 1),
            "restore_rss_mib": max(x[2] for x in restore),
        }
        row["speed_ratio"] = row["ours_process_s"] / row["pipeline_s"]
        row["size_ratio"] = row["ours_bytes"] / row["pipeline_bytes"]
        row["s3_ratio"] = row["s3_s"] / row["ours_s"]
        row["restore_ratio"] = row["restore_s"] / row["ours_s"]
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)

    print("| records | ours (s) | pipeline (s) | ours / pipeline | archive / pipeline .gz | ours peak RSS (MiB) "
          "| to S3 (s) | S3 / file | restore (s) | restore / backup | restore peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['records']:,} | {r['ours_process_s']:.2f} | {r['pipeline_s']:.2f} | {r['speed_ratio']:.2f}x "
              f"| {r['size_ratio']:.3f} | {r['ours_rss_mib']:.0f} | {r['s3_s']:.2f} | {r['s3_ratio']:.2f}x "
              f"| {r['restore_s']:.2f} | {r['restore_ratio']:.2f}x | {r['restore_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
