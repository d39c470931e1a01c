#!/usr/bin/env bash
# Event ingestion: Ward's event writer into SQLite, end to end (queue → journal with an fsync per
# batch → batched transactions, with the same indexes the console uses), against SQLite's own
# bulk loader (sqlite3 .import of the same rows into the same table: the ceiling) and a naive
# logger (one INSERT and commit per event).
#
#   bench/events.sh              # 1,000,000 events
#   EVENTS=200000 bench/events.sh
#
# Installs sqlite3 (Debian package) if missing. Writes to bench/out/events/.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-1000000}
out=bench/out/events
mkdir -p "$out"
if ! command -v sqlite3 >/dev/null; then
    apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null
fi
cargo build --release --locked -q -p ward-store --example events_bench
bench=target/release/examples/events_bench

echo "== Ward event writer, all blocked (one row each)"
"$bench" "$out/blocked" "$events" 100 | tee "$out/ward-blocked.txt"
echo "== Ward event writer, 10% blocked, 90% allowed (allowed become hourly counts)"
"$bench" "$out/mixed" "$events" 10 | tee "$out/ward-mixed.txt"

echo "== sqlite3 .import of the same blocked rows into Ward's events table"
"$bench" --csv "$out/events.csv" "$events"
rm -f "$out/import.db"
sqlite3 "$out/import.db" < crates/store/migrations/sqlite/0001_schema.sql
sqlite3 "$out/import.db" "PRAGMA journal_mode=WAL;" >/dev/null
# .import fills every column in order; the CSV leaves id to SQLite through a view-free staging
# table copied in one statement, as a bulk load would.
/usr/bin/time -f "%e" -o "$out/import.time" sqlite3 "$out/import.db" <<SQL
PRAGMA synchronous=NORMAL;
CREATE TEMP TABLE staging (school_id, at, gateway, source, client_ip, device_id, person_id, username, host, url, action, categories, reason, search_term);
.mode csv
.import $out/events.csv staging
INSERT INTO events (school_id, at, gateway, source, client_ip, device_id, person_id, username, host, url, action, categories, reason, search_term) SELECT * FROM staging;
SQL
seconds=$(cat "$out/import.time")
rows=$(sqlite3 "$out/import.db" "SELECT COUNT(*) FROM events")
python3 - "$events" "$seconds" "$rows" "$out" <<'PY'
import re, sys
events, seconds, rows, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
peer = events / seconds
print(f"sqlite3 .import: {seconds:.2f} s, {peer:,.0f} events/s, {rows} rows")
ward = float(re.search(r"([0-9.]+) events/s", open(f"{out}/ward-blocked.txt").read()).group(1))
naive = float(re.search(r"([0-9.]+) events/s over", open(f"{out}/ward-blocked.txt").read()).group(1))
print(f"== summary: Ward {ward:,.0f} events/s = {ward / peer:.2f}x sqlite3 .import, {ward / naive:.0f}x a one-commit-per-event logger")
PY
