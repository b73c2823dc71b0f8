#!/usr/bin/env bash
# The axum example's graceful shutdown, as an operator meets it: a backup
# asked for over HTTP whose client gave up (timeout, closed tab) is still
# running when Ctrl-C arrives. Shutdown must cancel it and wait: no staging
# file (`<key>#<n>`) left in the backup directory, and its BackupHistory
# record says `failed`, never `running` for ever.
#
#   cargo build --all-features --example axum_service
#   bash scripts/axum_shutdown_check.sh [path/to/axum_service]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/debug/examples/axum_service}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# ~200 MB of incompressible notes: a backup that takes seconds.
python3 - "$work/svc.sqlite" <<'PY'
import sqlite3, os, json, uuid, sys
c = sqlite3.connect(sys.argv[1])
c.execute('CREATE TABLE "ServiceNote" (id text primary key, value text)')
t = "UTC:2026-01-01T00:00:00.000000"
for _ in range(400):
    i = uuid.uuid4().hex
    c.execute('INSERT INTO "ServiceNote" VALUES (?,?)', (i, json.dumps(
        {"id": i, "text": os.urandom(256 * 1024).hex(), "_create_date": t, "_last_update": t})))
c.commit()
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GLUDB_DEMO_DB="$work/svc.sqlite" GLUDB_BACKUP_URL="file://$work/backups" \
GLUDB_BACKUP_EVERY_SECS=100000 GLUDB_LISTEN="127.0.0.1:$port" "$bin" >"$work/svc.log" 2>&1 &
pid=$!
# The first scheduled run starts at once: let it finish.
for _ in $(seq 1 300); do grep -q "scheduled backup" "$work/svc.log" && break; sleep 1; done
grep -q "scheduled backup: " "$work/svc.log" || { cat "$work/svc.log"; echo "FAIL: no scheduled backup"; exit 1; }
# An operator asks for a backup and gives up waiting after 1 s.
python3 - "$port" <<'PY' || true
import sys, urllib.request
try:
    urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{sys.argv[1]}/backups", method="POST"), timeout=1)
except Exception:
    pass
PY
kill -INT "$pid"          # graceful shutdown
wait "$pid" || { cat "$work/svc.log"; echo "FAIL: the service did not exit cleanly"; exit 1; }
pid=
statuses=$(python3 - "$work/svc.sqlite" <<'PY'
import sqlite3, json, sys
for (v,) in sqlite3.connect(sys.argv[1]).execute('select value from BackupHistory'):
    j = json.loads(v); print(j["status"], j["key"])
PY
)
echo "$statuses"
ls -la "$work/backups"
if ls "$work/backups" | grep -q '#'; then
    echo "FAIL: shutdown left a staging file"; exit 1
fi
if echo "$statuses" | grep -q '^running'; then
    echo "FAIL: a history record says running after shutdown"; exit 1
fi
# The asked-for run was cancelled mid-way (or, on a very fast machine,
# finished): either way it has a final record and its own archive or none.
[ "$(echo "$statuses" | wc -l)" -eq 2 ] || { echo "FAIL: expected two runs in history"; exit 1; }
echo "shutdown check passed"
