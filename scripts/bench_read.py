#!/usr/bin/env python3
"""Reading a backup without restoring it (docs/PERFORMANCE.md, "Reading a
backup"): for each size, populate a SQLite database, back it up once, then
read its records typed, 3 times each way (medians): checked before the
first record (spooled to a temporary file), and as it goes. Also a restore
of the same backup, for scale. Wall time and peak RSS from /usr/bin/time.

    python3 scripts/bench_read.py                 # 1M records
    SIZES="1000000 10000000" python3 scripts/bench_read.py
"""

import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, BUILD, DIR, ROOT, figures, timed  # noqa: E402

SIZES = [int(n) for n in os.environ.get("SIZES", "1000000").split()]
RUNS = int(os.environ.get("RUNS", "3"))


def main():
    subprocess.run(BUILD, cwd=ROOT, check=True)
    os.makedirs(DIR, exist_ok=True)
    print("| records | read, checked first (s) | peak RSS (MiB) | first record after (s) "
          "| read as it goes (s) | peak RSS (MiB) | records/s (checked first) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        db = os.path.join(DIR, f"bench-{n}.sqlite")
        subprocess.run([BIN, "populate", "--records", str(n), "--db", db], check=True, capture_output=True)
        out_dir = os.path.join(DIR, f"read-{n}")
        shutil.rmtree(out_dir, ignore_errors=True)
        _, _, stdout = timed([BIN, "backup", "--db", db, "--url", f"file://{out_dir}"])
        key = figures(stdout)["key"]
        results = {False: [], True: []}
        for _ in range(RUNS):
            for as_it_goes in (False, True):
                cmd = [BIN, "read", "--url", f"file://{out_dir}", "--key", key]
                if as_it_goes:
                    cmd.append("--as-it-goes")
                seconds, rss, stdout = timed(cmd)
                f = figures(stdout)
                assert f["records"] == n, f
                results[as_it_goes].append((seconds, rss, f["first_record_seconds"]))
        med = lambda xs, i: statistics.median(x[i] for x in xs)
        first, goes = results[False], results[True]
        print(f"| {n:,} | {med(first, 0):.2f} | {max(x[1] for x in first):.0f} | {med(first, 2):.2f} "
              f"| {med(goes, 0):.2f} | {max(x[1] for x in goes):.0f} | {n / med(first, 0):,.0f} |")


if __name__ == "__main__":
    main()
