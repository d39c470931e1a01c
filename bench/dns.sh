#!/usr/bin/env bash
# DNS filtering: Ward against dnsmasq and unbound, in one run, with dnsperf as the load.
#
#   bench/dns.sh                 # 20 s per measurement
#   SECONDS_PER_RUN=10 bench/dns.sh
#
# All three get the same blocklist and the same upstream:
#   - blocklist: every UT1 domain that Ward's default policy blocks for the unknown-client group
#     (found with `ward check --batch` at the start of the run), blocked with its subdomains:
#     dnsmasq `address=/DOMAIN/`, unbound `local-zone: "DOMAIN." always_nxdomain`, Ward its
#     category index and policy (answer "nxdomain", like the others);
#   - upstream: one unbound serving a wildcard root zone (every name has an A record), so allowed
#     names resolve without the internet.
# Workloads (A queries from 127.0.0.1, an unknown client for Ward: per-client policy applies):
#   - cached: 1,000 allowed names, after a warm-up pass, so every answer comes from the cache;
#   - mixed: 10,000 names, half blocked (sampled from the blocklist), half the cached allowed ones.
# Ward runs as `ward serve` with its event writer on (blocked queries are recorded in SQLite,
# allowed ones counted), as a school runs it. dnsmasq and unbound log nothing. dnsperf is one
# client asking as fast as it can, so Ward's per-client rate limit (dns.client_qps) is off here,
# as unbound's ip-ratelimit is by default; the allow-list check stays on (127.0.0.1 is one of the
# machine's networks).
#
# Installs dnsperf, dnsmasq, unbound and dig (Debian packages) if missing. Writes its work to
# bench/out/dns/ and a summary to bench/out/dns.txt; BENCHMARKS.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ut1=${UT1:-../shared/data/ut1}
duration=${SECONDS_PER_RUN:-20}
out=bench/out/dns
rm -rf "$out" && mkdir -p "$out"

missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
[ -x /usr/sbin/unbound ] || missing+=(unbound)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release --locked -q -p ward
ward=$PWD/target/release/ward

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== blocklist: UT1 domains Ward's default policy blocks for the unknown-client group"
"$ward" lists import --ut1 "$ut1" --out "$out/ut1.idx" --show-bad 0 >/dev/null
cat "$ut1"/*/domains | tr -d '\r' | grep -v '^#' | awk 'NF == 1' | tr 'A-Z' 'a-z' | sort -u > "$out/domains"
"$ward" check --batch --index "$out/ut1.idx" < "$out/domains" | cut -f1 > "$out/verdicts"
paste "$out/domains" "$out/verdicts" | awk -F'\t' '$2 == "block" { print $1 }' > "$out/blocked"
paste "$out/domains" "$out/verdicts" | awk -F'\t' '$2 == "allow" { print $1 }' > "$out/allowed"
echo "   $(wc -l < "$out/domains") UT1 domains: $(wc -l < "$out/blocked") blocked, $(wc -l < "$out/allowed") allowed"

python3 - "$out" <<'EOF'
import random, sys
out = sys.argv[1]
random.seed(2026)
blocked = open(f"{out}/blocked").read().split()
allowed = open(f"{out}/allowed").read().split()
cached = random.sample(allowed, 1000)
with open(f"{out}/cached.queries", "w") as f:
    for name in cached:
        f.write(f"{name} A\n")
with open(f"{out}/mixed.queries", "w") as f:
    sample = random.sample(blocked, 5000)
    for i in range(5000):
        f.write(f"{sample[i]} A\n{cached[i % 1000]} A\n")
EOF

echo "== upstream: unbound with a wildcard root zone"
upstream_port=$(free_port)
mkdir -p "$out/upstream"
cat > "$out/upstream/root.zone" <<'EOF'
.  3600 IN SOA a.root.invalid. admin.invalid. 1 3600 600 86400 3600
.  3600 IN NS  a.root.invalid.
*  3600 IN A   192.0.2.1
EOF
cat > "$out/upstream/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $upstream_port
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: "$PWD/$out/upstream"
  pidfile: ""
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  num-threads: 1
auth-zone:
  name: "."
  zonefile: "$PWD/$out/upstream/root.zone"
  for-upstream: yes
  for-downstream: yes
remote-control:
  control-enable: no
EOF
unbound -d -c "$out/upstream/unbound.conf" >"$out/upstream/log" 2>&1 &
pids+=($!)

echo "== peers: configuring dnsmasq, unbound and Ward with the same blocklist"
dnsmasq_port=$(free_port)
awk '{ print "address=/" $1 "/" }' "$out/blocked" > "$out/dnsmasq-blocklist.conf"
cat > "$out/dnsmasq.conf" <<EOF
port=$dnsmasq_port
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=127.0.0.1#$upstream_port
cache-size=10000
conf-file=$PWD/$out/dnsmasq-blocklist.conf
EOF

unbound_port=$(free_port)
mkdir -p "$out/unbound"
{
    cat <<EOF
server:
  interface: 127.0.0.1
  port: $unbound_port
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: "$PWD/$out/unbound"
  pidfile: ""
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  do-not-query-localhost: no
  num-threads: 2
  so-reuseport: yes
EOF
    awk '{ print "  local-zone: \"" $1 ".\" always_nxdomain" }' "$out/blocked"
    cat <<EOF
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$upstream_port
remote-control:
  control-enable: no
EOF
} > "$out/unbound/unbound.conf"

ward_port=$(free_port)
mkdir -p "$out/ward"
sed 's/^blocked = "block-page"/blocked = "nxdomain"/' crates/policy/default-policy.toml > "$out/ward/policy.toml"
grep -q '^blocked = "nxdomain"' "$out/ward/policy.toml"

# start NAME PORT COMMAND...: starts a server, waits until it answers, records its pid.
start() {
    local name=$1 port=$2; shift 2
    local started=$(date +%s.%N)
    "$@" >"$out/$name.log" 2>&1 &
    local pid=$!
    pids+=($pid)
    for _ in $(seq 1 600); do
        if dig @127.0.0.1 -p "$port" +tries=1 +time=1 +short probe.allowed.example A 2>/dev/null | grep -q 192.0.2.1; then
            printf '   %-8s pid %-7s answering after %.1f s\n' "$name" "$pid" "$(echo "$(date +%s.%N) - $started" | bc)"
            eval "${name}_pid=$pid"
            return
        fi
        sleep 0.2
    done
    echo "$name did not start; its log:" >&2
    tail -20 "$out/$name.log" >&2
    exit 1
}
start dnsmasq "$dnsmasq_port" dnsmasq --keep-in-foreground --conf-file="$out/dnsmasq.conf" --user=root
start unbound "$unbound_port" unbound -d -c "$out/unbound/unbound.conf"
start ward "$ward_port" env -i PATH="$PATH" WARD_DATA_DIR="$out/ward" WARD_CONSOLE_LISTEN=127.0.0.1:0 \
    WARD_ADMIN_PASSWORD="benchmark only password" WARD_LOG=warn \
    WARD_DNS_LISTEN="127.0.0.1:$ward_port" WARD_DNS_UPSTREAM="127.0.0.1:$upstream_port" \
    WARD_DNS_CLIENT_QPS=0 WARD_FILTER_INDEX="$out/ut1.idx" WARD_FILTER_POLICY="$out/ward/policy.toml" "$ward" serve

echo "== checking that each blocks and forwards the same"
blocked_name=$(sed -n 1p "$out/blocked")
allowed_name=$(sed -n 1p "$out/allowed")
for name in dnsmasq unbound ward; do
    port_var=${name}_port
    b=$(dig @127.0.0.1 -p "${!port_var}" "www.$blocked_name" A | grep -o 'status: [A-Z]*')
    a=$(dig @127.0.0.1 -p "${!port_var}" +short "$allowed_name" A)
    printf '   %-8s www.%s: %s; %s: %s\n' "$name" "$blocked_name" "$b" "$allowed_name" "$a"
    [ "$b" = "status: NXDOMAIN" ] && [ "$a" = "192.0.2.1" ] || { echo "$name does not filter as the others" >&2; exit 1; }
done

rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
summary="bench/out/dns.txt"
: > "$summary"
for workload in cached mixed; do
    echo "== workload: $workload ($duration s each; warm-up pass first)"
    for name in dnsmasq unbound ward; do
        port_var=${name}_port
        pid_var=${name}_pid
        dnsperf -s 127.0.0.1 -p "${!port_var}" -d "$out/$workload.queries" -n 1 -c 4 -q 100 -T 1 >/dev/null 2>&1 || true
        dnsperf -s 127.0.0.1 -p "${!port_var}" -d "$out/$workload.queries" -l "$duration" -c 4 -q 100 -T 1 \
            > "$out/$workload-$name.dnsperf" 2>&1
        qps=$(awk '/Queries per second/ { print $4 }' "$out/$workload-$name.dnsperf")
        latency=$(awk '/Average Latency/ { print $4 * 1000 }' "$out/$workload-$name.dnsperf")
        lost=$(awk '/Queries lost/ { print $3 }' "$out/$workload-$name.dnsperf")
        memory=$(rss "${!pid_var}")
        printf '%-7s %-8s %10.0f qps  %7.3f ms avg  lost %-6s %8d KiB RSS\n' \
            "$workload" "$name" "$qps" "$latency" "$lost" "$memory" | tee -a "$summary"
    done
done

echo "== ratios (Ward / peer)"
awk '{ qps[$1 "," $2] = $3; lat[$1 "," $2] = $5; rss[$1 "," $2] = $10 }
     END {
       for (w = 1; w <= 2; w++) {
         workload = (w == 1) ? "cached" : "mixed"
         for (p = 1; p <= 2; p++) {
           peer = (p == 1) ? "dnsmasq" : "unbound"
           printf "%-7s vs %-8s QPS %.2fx   latency %.2fx   memory %.2fx\n", workload, peer,
             qps[workload ",ward"] / qps[workload "," peer], lat[workload ",ward"] / lat[workload "," peer],
             rss[workload ",ward"] / rss[workload "," peer]
         }
       }
     }' "$summary" | tee -a "$summary"
