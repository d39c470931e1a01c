#!/usr/bin/env bash
# RADIUS accounting: how many Accounting-Requests a second Ward's listener reads, authenticates,
# applies to its network log-ins and answers (issue 24's target: at least 5,000), with 10,000
# users starting sessions and then sending interim updates, from
# crates/gateway/examples/radius_load.rs (64 packets in flight, as a busy Wi-Fi controller).
# Ward runs as `ward serve` with the DNS filter (a tiny index) and SQLite; every Start looks its
# user up among the school's people (none here: the lookup still runs).
#
#   bench/radius.sh                   # 10 s
#   SECONDS_PER_RUN=5 bench/radius.sh
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${SECONDS_PER_RUN:-10}
out=bench/out/radius
rm -rf "$out" && mkdir -p "$out/ward"
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cargo build --release --locked -q -p ward
cargo build --release --locked -q -p ward-gateway --example radius_load
ward=$PWD/target/release/ward
load=$PWD/target/release/examples/radius_load

echo "casino.test" > "$out/gambling.txt"
"$ward" lists import --domains gambling="$out/gambling.txt" --out "$out/ward/ward.idx" >/dev/null
radius_port=$(free_port)
secret="benchmark radius secret 0123456789"
env -i PATH="$PATH" WARD_DATA_DIR="$out/ward" WARD_CONSOLE_LISTEN=127.0.0.1:0 \
    WARD_ADMIN_PASSWORD="benchmark only password" WARD_LOG=warn WARD_PROXY_LISTEN= \
    WARD_DNS_LISTEN="127.0.0.1:$(free_port)" WARD_DNS_UPSTREAM=127.0.0.1:9 \
    WARD_RADIUS_LISTEN="127.0.0.1:$radius_port" WARD_RADIUS_CLIENTS="127.0.0.1=$secret" \
    "$ward" serve > "$out/ward.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    grep -qs "RADIUS accounting listening" "$out/ward.log" && break
    sleep 0.2
done
grep -q "RADIUS accounting listening" "$out/ward.log" || { echo "Ward did not start" >&2; cat "$out/ward.log" >&2; exit 1; }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; }
before=$(rss)
"$load" --server "127.0.0.1:$radius_port" --secret "$secret" --users 10000 --seconds 2 >/dev/null
result=$("$load" --server "127.0.0.1:$radius_port" --secret "$secret" --users 10000 --seconds "$duration")
after=$(rss)
echo "interim updates (10,000 sessions): $result" | tee bench/out/radius.txt
echo "Ward resident memory: $before KiB before, $after KiB with 10,000 network log-ins" | tee -a bench/out/radius.txt
# Every packet a Start for a user never seen: each is looked up among the school's people.
result=$("$load" --server "127.0.0.1:$radius_port" --secret "$secret" --users 10000 --seconds "$duration" --new-users yes)
echo "new sessions, each looked up: $result" | tee -a bench/out/radius.txt
