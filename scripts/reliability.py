#!/usr/bin/env python3
"""Reproduces docs/RELIABILITY.md.

1. The fault suite (`cargo test --test faults`): every S3 fault case, the
   SIGKILL cases and the full / read-only file systems; it writes its tables.
2. `bench_reliability load` on a 1M-record database (made by
   `bench_backup populate`): save latency without and during backups, read
   latency without and during a restore.
3. `bench_reliability big-lines`: peak memory of a restore of 1,500 records
   of 1 MiB followed by one that does not decode.

    python3 scripts/reliability.py            # writes docs/RELIABILITY.md
    RECORDS=100000 python3 scripts/reliability.py
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BUILD  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/gludb-bench")
RECORDS = int(os.environ.get("RECORDS", "1000000"))
EXAMPLES = os.path.join(ROOT, "target/release/examples")
OUT = os.path.join(ROOT, "docs/RELIABILITY.md")


def run(cmd, **kwargs):
    print("$", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, **kwargs)


def figures(cmd):
    return json.loads(run(cmd).stdout.strip().splitlines()[-1])


def main():
    os.makedirs(DIR, exist_ok=True)
    tables = os.path.join(DIR, "fault-tables.md")
    env = dict(os.environ, GLUDB_RELIABILITY_OUT=tables, CI="true")
    run(["cargo", "test", "--test", "faults", "--", "--test-threads=1"], env=env)
    with open(tables) as f:
        fault_tables = f.read()

    run(BUILD + ["--example", "bench_reliability"])
    db = os.path.join(DIR, f"bench-{RECORDS}.sqlite")
    figures([os.path.join(EXAMPLES, "bench_backup"), "populate", "--records", str(RECORDS), "--db", db])
    # The load test adds AppEvent records: work on a copy.
    loaded = os.path.join(DIR, f"load-{RECORDS}.sqlite")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(loaded + suffix):
            os.remove(loaded + suffix)
    run(["cp", db, loaded])
    load = figures([os.path.join(EXAMPLES, "bench_reliability"), "load", "--db", loaded])
    big_dir = os.path.join(DIR, "big-lines")
    made = figures([os.path.join(EXAMPLES, "bench_reliability"), "make-big-lines", "--dir", big_dir])
    big = figures([os.path.join(EXAMPLES, "bench_reliability"), "big-lines", "--dir", big_dir])
    print(json.dumps({"load": load, "made": made, "big_lines": big}, indent=2), file=sys.stderr)

    def latency(row):
        return f"{row['p50_ms']:.2f} ms | {row['p99_ms']:.2f} ms | {row['max_ms']:.1f} ms | {row['operations']} | {row['failures']}"

    backups = ", ".join(f"{s:.2f} s" for s in load["backup_seconds"])
    doc = f"""# Reliability

What the backup tool survives, and what it leaves when it cannot. Every
row below is asserted by a test, not only measured: `tests/faults/` (the
fault matrix, SIGKILL, full and read-only file systems) and `tests/trust/`
(the silent-loss paths of the issue "Backups you can trust").

Reproduce everything on this page with one command:

```sh
python3 scripts/reliability.py
```

(it runs `cargo test --test faults` with `GLUDB_RELIABILITY_OUT` set, which
writes the tables, then the release benchmark `bench_reliability`).

## The promises

- A **transient** fault (one failed request) is survived: object_store
  retries server errors, timeouts and dropped connections of idempotent
  requests; gludb adds one more try where object_store does not retry but
  a retry is safe (creating the multipart upload and the conditional PUT,
  whose keys belong to one run; a listing whose answer broke off; a bulk
  delete).
- A **persistent** fault is a typed error (`BackupError::Store`, or
  `AccessDenied` for 403, which is never retried) within seconds (the
  retry budget: here 3 retries within 5 s and a 1 s request timeout, set
  with `Destination::with_retries` / `with_request_timeout`;
  object_store's default is 10 retries within 3 minutes), with **0**
  objects created, **0** unfinished uploads left, a `Failed` history
  record, and **0** rows changed by a restore.
- A lost answer to `CompleteMultipartUpload` is not a failure: the run
  checks whether the object is there with every byte, and reports the
  truth. Any upload of the run's own key besides the one it completed
  (created by a retried creation whose first answer was lost) is aborted.
- A process killed with SIGKILL cannot clean up: nothing is visible under
  its key, its history record stays `Running`, and
  `BackupStore::find_orphans` / `clean_orphans` find and remove what it left
  (or an S3 lifecycle rule `AbortIncompleteMultipartUpload` does).

## Under faults

{fault_tables}
The "requests of that kind" column counts every request of the faulted
kind the operation made (retries included). "Time to fail" is measured
with 4 cases running at once on 2 cores.

## Under load ({load['records']:,} records, SQLite, release build)

Four tasks save records continuously (each save its own transaction) while
backups of the {load['records']:,} records run back to back (each one
snapshot: the archive holds the table as of one commit). Then four tasks
read records by id while the records are restored into the database
(one write transaction; readers see the state before it until it commits).

| what the application does | p50 | p99 | max | operations | failures |
|---|---|---|---|---|---|
| saves, no backup running | {latency(load['saves_alone'])} |
| saves, during backups | {latency(load['saves_during_backup'])} |
| reads by id, no restore running | {latency(load['reads_alone'])} |
| reads by id, during a restore | {latency(load['reads_during_restore'])} |

Backups meanwhile: {backups}. Restore of {load['restored']:,} records
while reading: {load['restore_seconds']:.2f} s. Peak RSS of the whole
process: {load['peak_rss_mib']:.0f} MiB.

## Restore memory is bounded by bytes

A restore queues records in batches of at most 4,096 rows **and** 8 MiB,
two batches per database writer. An archive of 1,500 records of 1 MiB
followed by one that does not decode ({made['archive_bytes']:,} bytes
compressed, {made['member_bytes']:,} bytes of records) used to make a
restore peak at 1.5 GiB before failing.

| restore of that archive, default limits | figure |
|---|---|
| peak RSS of the process (goal ≤ 256 MiB) | {big['peak_rss_mib']:.0f} MiB |
| outcome | {"refused at the bad record (`BadRecord`)" if big['refused_the_bad_record'] else "NOT REFUSED"} |
| tables left in the target | {big['tables_left_in_target']} |
| time | {big['seconds']:.1f} s |
"""
    with open(OUT, "w") as f:
        f.write(doc)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
