#!/usr/bin/env bash
# The whole test suite: every crate's unit, integration, compile-fail and doc
# tests, and the axum example's self-check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
GLUDB_DEMO_DB="$scratch/service.sqlite" GLUDB_BACKUP_URL="file://$scratch/backups" \
    cargo run --quiet --example axum_service -- --self-check
