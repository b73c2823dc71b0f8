#!/usr/bin/env bash
# Clean-build time of a small application crate that depends on gludb by
# path, as a new user sees it: derive, SQLite and a `file://` backup.
#
#   bash scripts/build_time.sh minimal    # default-features = false, features = ["sqlite"]
#   bash scripts/build_time.sh default    # gludb's default features
#   bash scripts/build_time.sh all        # every feature
#   bash scripts/build_time.sh all /path/to/another/gludb-checkout
#
# Each run writes a scratch crate under ${SCRATCH:-/tmp/gludb-build-time},
# deletes its target directory, builds it with `cargo build -j2` (debug,
# offline, with the workspace's Cargo.lock so the versions are the tested
# ones) and prints: wall and CPU time, number of crates compiled, and which
# heavy crates are in the tree (`cargo tree -e features`). The target
# directory is deleted afterwards (KEEP_TARGET=1 keeps it; TIMINGS=1 keeps
# cargo's --timings report).
set -euo pipefail

set_name=${1:?usage: build_time.sh minimal|default|all [gludb checkout]}
repo=$(cd "${2:-$(dirname "$0")/..}" && pwd)
scratch=${SCRATCH:-/tmp/gludb-build-time}/$set_name
jobs=${JOBS:-2}

case "$set_name" in
    minimal) dep="{ path = \"$repo\", default-features = false, features = [\"sqlite\"] }" ;;
    default) dep="{ path = \"$repo\" }" ;;
    all) dep="{ path = \"$repo\", features = [\"sqlite\", \"postgres\", \"aws\", \"gcp\", \"azure\"] }" ;;
    *) echo "unknown set $set_name (minimal, default, all)" >&2; exit 2 ;;
esac
# A checkout from before the features existed has none to ask for.
if ! grep -q '^\[features\]' "$repo/Cargo.toml"; then
    dep="{ path = \"$repo\" }"
fi

rm -rf "$scratch"
mkdir -p "$scratch/src"
cat >"$scratch/Cargo.toml" <<TOML
[package]
name = "gludb-build-time"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
gludb = $dep
serde = { version = "1", features = ["derive"] }
tokio = { version = "1", features = ["rt", "macros"] }

[workspace]
TOML
cat >"$scratch/src/main.rs" <<'RUST'
use gludb::{Databases, Storable, backup::Backup, sqlite::Sqlite};

#[derive(Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "Note", indexes(title))]
struct Note {
    id: String,
    title: String,
}

impl Note {
    fn title(&self) -> String {
        self.title.clone()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dbs = Databases::new(Sqlite::open("notes.sqlite").await?);
    Note::ensure_table(&dbs).await?;
    Note { id: String::new(), title: "hello".into() }.save(&dbs).await?;
    let mut backup = Backup::from_url("file:///tmp/gludb-build-time-backups")?;
    backup.add_class::<Note>();
    println!("{}", backup.run_backup(&dbs).await?.key);
    Ok(())
}
RUST
cp "$repo/Cargo.lock" "$scratch/Cargo.lock"

export CARGO_TARGET_DIR="$scratch/target"
export CARGO_INCREMENTAL=0
unset RUSTC_WRAPPER
rm -rf "$CARGO_TARGET_DIR"
cd "$scratch"
cargo fetch --offline -q 2>/dev/null || cargo fetch -q

# Wall time is what the user waits; CPU time (user + sys) varies less when
# the machine is shared, so both are shown, with the load average.
load=$(cut -d' ' -f1 /proc/loadavg)
TIMEFORMAT='%R %U %S'
timing=$( { time cargo build --offline -j"$jobs" ${TIMINGS:+--timings} 2>"$scratch/build.log" >/dev/null; } 2>&1 )
read -r seconds user sys <<<"$timing"
cpu=$(echo "$user + $sys" | bc)
crates=$(grep -c '^ *Compiling ' "$scratch/build.log" || true)

tree=$(cargo tree --offline -e features --prefix none 2>/dev/null)
heavy=""
for name in aws-lc-sys aws-lc-rs ring rustls reqwest tokio-postgres deadpool-postgres rusqlite; do
    if grep -q "^$name v" <<<"$tree"; then heavy="$heavy $name"; fi
done

printf '%s: %.0f s wall (-j%s), %.0f s CPU, %s crates compiled, load %s before; heavy crates:%s\n' \
    "$set_name" "$seconds" "$jobs" "$cpu" "$crates" "$load" "${heavy:- none}"
if [ -n "${TIMINGS:-}" ]; then
    report="/tmp/gludb-build-time-$set_name.html"
    cp "$CARGO_TARGET_DIR"/cargo-timings/cargo-timing.html "$report"
    echo "timings: $report"
fi
if [ -z "${KEEP_TARGET:-}" ]; then rm -rf "$CARGO_TARGET_DIR"; fi
