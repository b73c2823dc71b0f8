#!/usr/bin/env python3
"""Reproduces the figures of docs/PERFORMANCE.md.

For each size: populate a SQLite database, then run side by side, 3 times
each (medians reported): our backup to file://, the shell pipeline
`sqlite3 DB "select value from BenchData" | gzip -6`, our backup to the
in-process S3 server, and a restore into an empty database. Wall time and
peak RSS come from /usr/bin/time.

    python3 scripts/bench.py                   # 100k and 1M records
    SIZES="100000 1000000 10000000" python3 scripts/bench.py

Then the same for PostgreSQL (a throwaway cluster made with initdb in
BENCH_DIR, on 127.0.0.1 and a free port; PG_SIZES, default "1000000"):
our backup vs `pg_dump -t benchdata | gzip -6` and vs
`psql -c "COPY (SELECT value FROM benchdata) TO STDOUT" | gzip -6`, and our
restore into an empty table vs `psql -c "COPY benchdata FROM STDIN"` of the
same rows, with the peak RSS of ours and of the server's processes.
PG_SIZES="" skips it; SIZES="" skips SQLite.
"""

import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/examples/bench_backup")
# One build for every benchmark script, so none replaces another's binary
# with one lacking a feature.
BUILD = ["cargo", "build", "--release", "--example", "bench_backup", "--features", "postgres,zstd,age"]
DIR = os.environ.get("BENCH_DIR", "/tmp/gludb-bench")
SIZES = [int(n) for n in os.environ.get("SIZES", "100000 1000000").split()]
PG_SIZES = [int(n) for n in os.environ.get("PG_SIZES", "1000000").split()]
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
    subprocess.run(BUILD, cwd=ROOT, check=True)
    os.makedirs(DIR, exist_ok=True)
    if SIZES:
        sqlite_bench()
    if PG_SIZES:
        pg_bench()


def sqlite_bench():
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
            f = figures(stdout)
            restore.append((f["seconds"], seconds, rss, f["closed_seconds"]))

        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(target + suffix):
                os.remove(target + suffix)
        for _, _, _, _, _, out_dir in ours:
            shutil.rmtree(out_dir, ignore_errors=True)

        med = lambda xs, i: statistics.median(x[i] for x in xs)
        row = {
            "records": n,
            "ours_s": med(ours, 0), "ours_process_s": med(ours, 1), "ours_rss_mib": max(x[2] for x in ours),
            "ours_bytes": med(ours, 3),
            "pipeline_s": med(pipe, 0), "pipeline_rss_mib": max(x[1] for x in pipe), "pipeline_bytes": med(pipe, 2),
            "s3_s": med(s3, 0), "s3_rss_mib": max(x[2] for x in s3),
            "restore_s": med(restore, 0), "restore_process_s": med(restore, 1),
            "restore_rss_mib": max(x[2] for x in restore), "restore_checkpointed_s": med(restore, 3),
        }
        row["speed_ratio"] = row["ours_process_s"] / row["pipeline_s"]
        row["size_ratio"] = row["ours_bytes"] / row["pipeline_bytes"]
        row["s3_ratio"] = row["s3_s"] / row["ours_s"]
        row["restore_ratio"] = row["restore_s"] / row["ours_s"]
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)

    print("| records | ours (s) | pipeline (s) | ours / pipeline | archive / pipeline .gz | ours peak RSS (MiB) "
          "| to S3 (s) | S3 / file | restore (s) | restore + checkpoint (s) | restore / backup "
          "| restore peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['records']:,} | {r['ours_process_s']:.2f} | {r['pipeline_s']:.2f} | {r['speed_ratio']:.2f}x "
              f"| {r['size_ratio']:.3f} | {r['ours_rss_mib']:.0f} | {r['s3_s']:.2f} | {r['s3_ratio']:.2f}x "
              f"| {r['restore_s']:.2f} | {r['restore_checkpointed_s']:.2f} | {r['restore_ratio']:.2f}x "
              f"| {r['restore_rss_mib']:.0f} |")



def pg_bin(name):
    """A PostgreSQL server program: on PATH, or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        sys.exit(f"{name} not found: install PostgreSQL (apt install postgresql)")
    return candidates[-1]


class Cluster:
    """A throwaway PostgreSQL cluster in DIR/pg, on 127.0.0.1 and a free port.
    As root (initdb refuses root), the server runs as the OS user postgres."""

    def __init__(self):
        self.data = os.path.join(DIR, "pg")
        shutil.rmtree(self.data, ignore_errors=True)
        as_user = []
        if os.geteuid() == 0:
            as_user = ["runuser", "-u", "postgres", "--"]
            os.makedirs(self.data)
            shutil.chown(self.data, "postgres")
        self.as_user = as_user
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        user = ["-U", "bench"]
        subprocess.run(as_user + [pg_bin("initdb"), "-D", self.data, "--auth=trust", "--encoding=UTF8",
                                  "--locale=C"] + user, check=True, capture_output=True)
        # Fewer checkpoints during a big restore (ours and COPY FROM alike); the rest as shipped.
        subprocess.run(as_user + [pg_bin("pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.data, "log"),
                        "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 "
                              "-c max_wal_size=2GB", "start"], check=True, capture_output=True)
        self.conn = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "bench"]

    def url(self, db):
        return f"postgres://bench@127.0.0.1:{self.port}/{db}"

    def psql(self, db, sql):
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + self.conn + ["-d", db, "-c", sql],
                              check=True, capture_output=True, text=True).stdout

    def recreate(self, db):
        self.psql("postgres", f"DROP DATABASE IF EXISTS {db}")
        self.psql("postgres", f"CREATE DATABASE {db}")

    def server_rss_mib(self):
        """The cluster's resident memory: the proportional set size (shared pages split
        between the processes sharing them) summed over the postmaster and its children."""
        pid = int(open(os.path.join(self.data, "postmaster.pid")).readline())
        pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                      text=True).stdout.split()]
        total = 0
        for p in pids:
            try:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    total += next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
            except (OSError, StopIteration):
                pass
        return total / 1024

    def stop(self):
        subprocess.run(self.as_user + [pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(self.data, ignore_errors=True)


def with_server_peak(cluster, fn):
    """Runs fn() while sampling the server's RSS every 20 ms; returns (fn(), peak MiB)."""
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], cluster.server_rss_mib())
            time.sleep(0.02)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        result = fn()
    finally:
        done.set()
        thread.join()
    return result, peak[0]


def pg_bench():
    cluster = Cluster()
    try:
        rows = [pg_size(cluster, n) for n in PG_SIZES]
    finally:
        cluster.stop()
    print()
    print("| records | ours (s) | pg_dump \\| gzip -6 (s) | ours / pg_dump | COPY TO \\| gzip -6 (s) | ours / COPY "
          "| archive / pg_dump .gz | ours peak RSS (MiB) | server peak RSS (MiB) | restore (s) | COPY FROM (s) "
          "| restore / COPY FROM | restore peak RSS (MiB) | server peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['records']:,} | {r['ours_process_s']:.2f} | {r['dump_s']:.2f} | {r['dump_ratio']:.2f}x "
              f"| {r['copy_s']:.2f} | {r['copy_ratio']:.2f}x | {r['size_ratio']:.3f} | {r['ours_rss_mib']:.0f} "
              f"| {r['ours_server_rss_mib']:.0f} | {r['restore_process_s']:.2f} | {r['copy_from_s']:.2f} "
              f"| {r['restore_ratio']:.2f}x | {r['restore_rss_mib']:.0f} | {r['restore_server_rss_mib']:.0f} |")


def pg_size(cluster, n):
    db = f"bench_{n}"
    cluster.recreate(db)
    print(figures(subprocess.run([BIN, "populate", "--records", str(n), "--pg", cluster.url(db)],
                                 check=True, capture_output=True, text=True).stdout), file=sys.stderr)
    cluster.psql(db, "VACUUM ANALYZE benchdata")
    # The rows as `COPY FROM` reads them, for the floor a user could reach by hand.
    rows_file = os.path.join(DIR, f"pg-rows-{n}.txt")
    with open(rows_file, "w") as f:
        subprocess.run(["psql", "-X"] + cluster.conn + ["-d", db, "-c", "COPY benchdata TO STDOUT"],
                       check=True, stdout=f)
    conn = " ".join(cluster.conn)
    ours, dump, copy, restore, copy_from = [], [], [], [], []
    for run in range(RUNS):
        out_dir = os.path.join(DIR, f"pg-out-{n}")
        shutil.rmtree(out_dir, ignore_errors=True)
        seconds, rss, stdout = timed([BIN, "backup", "--pg", cluster.url(db), "--url", f"file://{out_dir}"])
        f = figures(stdout)
        ours.append((f["seconds"], seconds, rss, f["archive_bytes"], f["key"], out_dir))

        gz = os.path.join(DIR, "pg-pipeline.gz")
        seconds, rss, _ = timed(["sh", "-c", f"pg_dump {conn} -t benchdata {db} | gzip -6 > {gz}"])
        dump.append((seconds, os.path.getsize(gz)))
        seconds, rss, _ = timed(["sh", "-c", f"psql -X {conn} -d {db} "
                                 f"-c 'COPY (SELECT value FROM benchdata) TO STDOUT' | gzip -6 > {gz}"])
        copy.append((seconds, os.path.getsize(gz)))

        target = f"restored_{n}"
        cluster.recreate(target)
        key, url = ours[-1][4], f"file://{ours[-1][5]}"
        seconds, rss, stdout = timed([BIN, "restore", "--pg", cluster.url(target), "--url", url, "--key", key])
        restore.append((figures(stdout)["seconds"], seconds, rss))

        cluster.recreate(target)
        cluster.psql(target, 'CREATE TABLE benchdata (id text COLLATE "C" PRIMARY KEY, value json NOT NULL)')
        seconds, _, _ = timed(["sh", "-c", f"psql -X {conn} -d {target} -c 'COPY benchdata FROM STDIN' "
                               f"< {rows_file}"])
        copy_from.append(seconds)
        cluster.psql("postgres", f"DROP DATABASE {target}")
    os.remove(rows_file)
    # The server's memory, sampled in one more backup and restore: reading
    # /proc takes CPU the timed runs must not lose.
    out_dir, key = ours[-1][5], ours[-1][4]
    _, backup_server = with_server_peak(
        cluster, lambda: timed([BIN, "backup", "--pg", cluster.url(db), "--url", f"file://{out_dir}-sampled"]))
    shutil.rmtree(f"{out_dir}-sampled", ignore_errors=True)
    target = f"restored_{n}"
    cluster.recreate(target)
    _, restore_server = with_server_peak(
        cluster, lambda: timed([BIN, "restore", "--pg", cluster.url(target), "--url", f"file://{out_dir}", "--key", key]))
    cluster.psql("postgres", f"DROP DATABASE {target}")
    shutil.rmtree(out_dir, ignore_errors=True)
    cluster.psql("postgres", f"DROP DATABASE {db}")

    med = lambda xs, i: statistics.median(x[i] for x in xs)
    row = {
        "records": n,
        "ours_s": med(ours, 0), "ours_process_s": med(ours, 1), "ours_rss_mib": max(x[2] for x in ours),
        "ours_bytes": med(ours, 3), "ours_server_rss_mib": backup_server,
        "dump_s": med(dump, 0), "dump_bytes": med(dump, 1), "copy_s": med(copy, 0),
        "restore_s": med(restore, 0), "restore_process_s": med(restore, 1),
        "restore_rss_mib": max(x[2] for x in restore), "restore_server_rss_mib": restore_server,
        "copy_from_s": statistics.median(copy_from),
    }
    row["dump_ratio"] = row["ours_process_s"] / row["dump_s"]
    row["copy_ratio"] = row["ours_process_s"] / row["copy_s"]
    row["size_ratio"] = row["ours_bytes"] / row["dump_bytes"]
    row["restore_ratio"] = row["restore_process_s"] / row["copy_from_s"]
    print(json.dumps(row), file=sys.stderr)
    return row


if __name__ == "__main__":
    main()
