#!/usr/bin/env bash
# What knowing who is behind an address costs the DNS filter and the proxy (issue 24's target:
# at most 5% of their throughput with 10,000 network log-ins), side by side in one run:
# dnsperf's cached workload, and wrk through the proxy to a local nginx (allowed pages, 100
# keep-alive connections), against `ward serve` with
#   - none:     no network log-ins;
#   - 10,000:   10,000 network log-ins (RADIUS accounting from crates/gateway/examples/
#               radius_load.rs), none at dnsperf's address: every query looks and misses;
#   - at-client: the same, plus one at dnsperf's own address: every query finds a person.
# The DNS filter answers from its cache (upstream: a local unbound is not needed, the names are
# blocked, which Ward answers itself), so the lookup's share is as large as it can be.
#
# Installs dnsperf, wrk and nginx (Debian packages) if missing.
#
#   bench/identity.sh                 # 10 s per measurement, 3 rounds (ROUNDS=N)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${SECONDS_PER_RUN:-10}
out=bench/out/identity
rm -rf "$out" && mkdir -p "$out/ward"
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if command -v systemctl >/dev/null && systemctl is-active -q nginx 2>/dev/null; then systemctl stop nginx || true; fi
cargo build --release --locked -q -p ward
cargo build --release --locked -q -p ward-gateway --example radius_load
ward=$PWD/target/release/ward
load=$PWD/target/release/examples/radius_load

for i in $(seq 1 200); do echo "site$i.casino.test"; done > "$out/gambling.txt"
"$ward" lists import --domains gambling="$out/gambling.txt" --out "$out/ward/ward.idx" >/dev/null
cat > "$out/policy.toml" <<'POLICY'
name = "Benchmark School"
timezone = "Europe/London"
unknown_group = "pupils"

[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"

[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"
POLICY
for i in $(seq 1 200); do echo "site$i.casino.test A"; done > "$out/queries"
dns_port=$(free_port)
radius_port=$(free_port)
proxy_port=$(free_port)
origin_port=$(free_port)
mkdir -p "$out/nginx/html"
python3 -c 'print("<!doctype html><title>Ward benchmark page</title>" + "<p>" + "lorem ipsum " * 160 + "</p>")' \
    > "$out/nginx/html/index.html"
cat > "$out/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $PWD/$out/nginx/nginx.pid;
error_log $PWD/$out/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$origin_port; root $PWD/$out/nginx/html; }
}
NGINX
chmod -R a+rX "$out/nginx"
/usr/sbin/nginx -c "$PWD/$out/nginx/nginx.conf" &
nginx_pid=$!
cat > "$out/allowed.lua" <<LUA
request = function()
    return wrk.format("GET", "http://localhost:$origin_port/index.html", { Host = "localhost:$origin_port" })
end
LUA
secret="benchmark radius secret 0123456789"
env -i PATH="$PATH" WARD_DATA_DIR="$out/ward" WARD_CONSOLE_LISTEN=127.0.0.1:0 \
    WARD_ADMIN_PASSWORD="benchmark only password" WARD_LOG=warn \
    WARD_PROXY_LISTEN="127.0.0.1:$proxy_port" WARD_PROXY_INTERNAL_SERVERS="127.0.0.1:$origin_port" \
    WARD_PROXY_MAX_CONNECTIONS_PER_CLIENT=4096 WARD_DETECTION_ENABLED=false \
    WARD_FILTER_POLICY="$out/policy.toml" WARD_DNS_CLIENT_QPS=0 \
    WARD_DNS_LISTEN="127.0.0.1:$dns_port" WARD_DNS_UPSTREAM=127.0.0.1:9 \
    WARD_RADIUS_LISTEN="127.0.0.1:$radius_port" WARD_RADIUS_CLIENTS="127.0.0.1=$secret" \
    "$ward" serve > "$out/ward.log" 2>&1 &
pid=$!
trap 'kill $pid $nginx_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    grep -qs "RADIUS accounting listening" "$out/ward.log" && break
    sleep 0.2
done
summary=bench/out/identity.txt
: > "$summary"
measure() {
    dnsperf -s 127.0.0.1 -p "$dns_port" -d "$out/queries" -l 3 -c 4 -q 100 -T 1 >/dev/null 2>&1 || true
    dnsperf -s 127.0.0.1 -p "$dns_port" -d "$out/queries" -l "$duration" -c 4 -q 100 -T 1 > "$out/$1.dnsperf" 2>&1
    printf '%-10s %10.0f queries/s\n' "$1" "$(awk '/Queries per second/ { print $4 }' "$out/$1.dnsperf")" | tee -a "$summary"
    wrk -t1 -c100 -d3s -s "$out/allowed.lua" "http://127.0.0.1:$proxy_port" >/dev/null 2>&1 || true
    wrk -t1 -c100 -d"$duration"s -s "$out/allowed.lua" "http://127.0.0.1:$proxy_port" > "$out/$1.wrk" 2>&1
    printf '%-10s %10.0f requests/s (proxy)\n' "$1" "$(awk '/Requests\/sec/ { print $2 }' "$out/$1.wrk")" | tee -a "$summary"
}
# One accounting packet from 127.0.0.1 (the benchmark's network device): `start` gives
# dnsperf's own address to bench.user; `off` is an Accounting-Off, which ends every log-in the
# device reported (the 10,000 and bench.user), so the next round starts from none again.
radius() {
    python3 - "$radius_port" "$secret" "$1" <<'PY'
import hashlib, socket, struct, sys
port, secret, what = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
if what == "start":
    user = b"bench.user"
    attributes = bytes([1, len(user) + 2]) + user + bytes([40, 6]) + struct.pack(">I", 1) + bytes([8, 6, 127, 0, 0, 1])
else:
    attributes = bytes([40, 6]) + struct.pack(">I", 8) + bytes([4, 6, 127, 0, 0, 1])
header = bytes([4, 1]) + struct.pack(">H", 20 + len(attributes))
authenticator = hashlib.md5(header + bytes(16) + attributes + secret).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(header + authenticator + attributes, ("127.0.0.1", port))
assert s.recv(64)[0] == 5, "no Accounting-Response"
PY
}
# Rounds of none → 10,000 → at-client, the log-ins ended between rounds, so that each state is
# measured at several points of the run (one 10-second figure varies by up to 10% here).
rounds=${ROUNDS:-3}
for round in $(seq 1 "$rounds"); do
    measure none
    "$load" --server "127.0.0.1:$radius_port" --secret "$secret" --users 10000 --seconds 2 > "$out/load-$round.txt"
    measure 10,000
    radius start
    measure at-client
    radius off
done
cat "$out"/load-*.txt >> "$summary"
# Each state's median over the rounds, and its ratio to none's.
awk '
    /queries\/s/ { q[$1] = q[$1] " " $2 }
    /requests\/s/ { r[$1] = r[$1] " " $2 }
    function median(list,   values, n, i, j, t) {
        n = split(list, values, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (values[j] + 0 < values[i] + 0) { t = values[i]; values[i] = values[j]; values[j] = t }
        return n % 2 ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
    }
    END {
        printf "medians: DNS none %.0f, 10,000 %.0f, at-client %.0f queries/s; proxy none %.0f, 10,000 %.0f, at-client %.0f requests/s\n", median(q["none"]), median(q["10,000"]), median(q["at-client"]), median(r["none"]), median(r["10,000"]), median(r["at-client"])
        printf "DNS, 10,000 log-ins, none at the client:   %.3fx the queries/s with none\n", median(q["10,000"]) / median(q["none"])
        printf "DNS, 10,000 log-ins, one at the client:    %.3fx the queries/s with none\n", median(q["at-client"]) / median(q["none"])
        printf "proxy, 10,000 log-ins, none at the client: %.3fx the requests/s with none\n", median(r["10,000"]) / median(r["none"])
        printf "proxy, 10,000 log-ins, one at the client:  %.3fx the requests/s with none\n", median(r["at-client"]) / median(r["none"])
    }' "$summary" | tee -a "$summary"
