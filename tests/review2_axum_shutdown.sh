#!/usr/bin/env bash
# Review 2, finding: examples/axum_service.rs's graceful shutdown cancels only
# the *scheduled* backup. A backup started by `POST /backups` whose client
# went away (timeout, closed tab) keeps running; Ctrl-C then ends the process
# mid-run: a staging file (`<key>#<n>`, or an open multipart upload on S3) is
# left behind and the run's BackupHistory record stays `running` for ever.
#
#   export CARGO_TARGET_DIR=/work/target-review2 CARGO_INCREMENTAL=0
#   cargo build --all-features --example axum_service
#   bash tests/review2_axum_shutdown.sh
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${CARGO_TARGET_DIR:-target}/debug/examples/axum_service
python3 - "$work/svc.sqlite" <<'PY'
import sqlite3, os, json, uuid, sys
c = sqlite3.connect(sys.argv[1])
c.execute('CREATE TABLE "ServiceNote" (id text primary key, value text)')
t = "UTC:2026-01-01T00:00:00.000000"
for _ in range(400):  # ~200 MB of noise: a backup that takes a few seconds
    i = uuid.uuid4().hex
    c.execute('INSERT INTO "ServiceNote" VALUES (?,?)', (i, json.dumps(
        {"id": i, "text": os.urandom(256 * 1024).hex(), "_create_date": t, "_last_update": t})))
c.commit()
PY
GLUDB_DEMO_DB="$work/svc.sqlite" GLUDB_BACKUP_URL="file://$work/backups" \
GLUDB_BACKUP_EVERY_SECS=100000 GLUDB_LISTEN=127.0.0.1:3999 "$bin" >"$work/svc.log" 2>&1 &
pid=$!
# The first scheduled run starts at once: let it finish.
for _ in $(seq 1 300); do grep -q "scheduled backup" "$work/svc.log" && break; sleep 1; done
# An operator asks for a backup and gives up waiting after 1 s.
curl -s -m 1 -X POST localhost:3999/backups || true
sleep 0.5
kill -INT "$pid"          # graceful shutdown
wait "$pid" || true
echo "--- left in the backup directory:"
ls -la "$work/backups"
echo "--- BackupHistory:"
python3 - "$work/svc.sqlite" <<'PY'
import sqlite3, json, sys
for (v,) in sqlite3.connect(sys.argv[1]).execute('select value from BackupHistory'):
    j = json.loads(v); print(j["status"], j["key"])
PY
if ls "$work/backups" | grep -q '#'; then
    echo "FAIL: a staging file was left by a shutdown that should cancel and wait"; exit 1
fi
