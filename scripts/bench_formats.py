#!/usr/bin/env python3
"""Archive formats side by side (docs/PERFORMANCE.md, "Archive formats"):
for each size, the same database backed up to file:// with gzip level 1
(the default: libdeflate's level 1), gzip level 3 (the reference of issue
12's targets, measured when zlib-rs level 3 was the default), zstd level 1
and zstd level 3,
interleaved, RUNS times each (medians of wall time; sizes are the same every
run); then, at the first size, the default gzip with and without age
encryption.

    python3 scripts/bench_formats.py                         # 1M and 10M records
    SIZES="1000000" RUNS=3 python3 scripts/bench_formats.py
"""

import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, BUILD, DIR, ROOT, figures, timed  # noqa: E402

SIZES = [int(n) for n in os.environ.get("SIZES", "1000000 10000000").split()]
RUNS = int(os.environ.get("RUNS", "3"))
FORMATS = [("gzip 1", []), ("gzip 3", ["--level", "3"]), ("zstd 1", ["--zstd", "1"]), ("zstd 3", ["--zstd", "3"])]


def backup(db, extra):
    out_dir = os.path.join(DIR, "formats-out")
    shutil.rmtree(out_dir, ignore_errors=True)
    seconds, rss, stdout = timed([BIN, "backup", "--db", db, "--url", f"file://{out_dir}"] + extra)
    return seconds, rss, figures(stdout)["archive_bytes"]


def main():
    subprocess.run(BUILD, cwd=ROOT, check=True)
    os.makedirs(DIR, exist_ok=True)
    print("| records | format | backup (s) | vs gzip 3 | archive (MB) | vs gzip 3 | peak RSS (MiB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in SIZES:
        db = os.path.join(DIR, f"bench-{n}.sqlite")
        subprocess.run([BIN, "populate", "--records", str(n), "--db", db], check=True, capture_output=True)
        # A fresh 10M database can keep a multi-GB WAL (the populating
        # process ends before its checkpoint): every reader would then go
        # through it. Fold it in first, as a long-running database would be.
        subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"], check=True, capture_output=True)
        runs = {name: [] for name, _ in FORMATS}
        for _ in range(RUNS):
            for name, extra in FORMATS:
                runs[name].append(backup(db, extra))
        base_s = statistics.median(r[0] for r in runs["gzip 3"])
        base_b = runs["gzip 3"][0][2]
        for name, _ in FORMATS:
            s = statistics.median(r[0] for r in runs[name])
            b = runs[name][0][2]
            rss = max(r[1] for r in runs[name])
            print(f"| {n:,} | {name} | {s:.2f} | {s / base_s:.2f}x | {b / 1e6:.1f} | {b / base_b:.2f}x | {rss:.0f} |")
    n = SIZES[0]
    db = os.path.join(DIR, f"bench-{n}.sqlite")
    plain, encrypted = [], []
    for _ in range(RUNS):
        plain.append(backup(db, [])[0])
        encrypted.append(backup(db, ["--encrypt"])[0])
    p, e = statistics.median(plain), statistics.median(encrypted)
    print()
    print("| records | gzip 1 (s) | gzip 1 + age (s) | encrypted / plain |")
    print("|---:|---:|---:|---:|")
    print(f"| {n:,} | {p:.2f} | {e:.2f} | {e / p:.2f}x |")


if __name__ == "__main__":
    main()
