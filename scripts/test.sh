#!/usr/bin/env bash
# The whole test suite: every crate's unit, integration, compile-fail and doc
# tests, with every feature (the PostgreSQL, GCS and Azure tests need theirs;
# see README.md, "Features"), and the axum example's self-check.
set -euo pipefail
cd "$(dirname "$0")/.."
# The examples first: tests/cli.rs runs the built demo service.
cargo build --workspace --examples --all-features
cargo test --workspace --all-targets --all-features
cargo test --workspace --doc --all-features
# Destinations whose feature is off are a typed error naming it: the
# backup crate's own tests with the default features (aws: gs:// and az://
# refused) and with none (s3:// refused too; file:// and memory:// work).
cargo test -p gludb-backup --lib
cargo test -p gludb-backup --lib --no-default-features
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
GLUDB_DEMO_DB="$scratch/service.sqlite" GLUDB_BACKUP_URL="file://$scratch/backups" \
    cargo run --quiet --all-features --example axum_service -- --self-check
# Shutdown with a backup in progress whose HTTP client has gone.
bash scripts/axum_shutdown_check.sh "${CARGO_TARGET_DIR:-target}/debug/examples/axum_service"
