#!/usr/bin/env bash
# The filtering proxy: Ward against e2guardian and squid + squidGuard, in one run, with wrk as the
# load and a local nginx as the origin.
#
#   bench/proxy.sh                    # 15 s per measurement
#   SECONDS_PER_RUN=5 bench/proxy.sh
#
# All three get the same blocklist: every UT1 domain that Ward's default policy blocks for the
# unknown-client group (found with `ward check --batch`), blocked with its subdomains:
# e2guardian's `bannedsitelist`, a squidGuard `dest` with those domains, Ward its category index
# and default policy. Each runs as an explicit proxy on 127.0.0.1 and reaches nginx on loopback.
# Workloads, each at 100 and at 1,000 concurrent connections (wrk, 2 threads, keep-alive):
#   - allowed: GET http://localhost:PORT/index.html (a 2 KiB page), every request to nginx;
#   - mixed: one request in two for `www.` + a blocked domain (the proxy answers itself: Ward a
#     403 block page, e2guardian its "Access Denied" page, squidGuard a 302 to a block page).
# e2guardian runs with URL filtering only (weighted-phrase content scanning off, and Ward's risk
# detection off likewise: bench/detect_proxy.sh compares the two with scanning on), logging denied requests only (Ward records blocked requests and counts
# allowed ones); squid caches nothing and logs nothing. Memory is the resident set of each
# proxy's whole process tree (squid with its squidGuard helpers), read after each measurement.
#
# wrk is one client address with up to 1,000 connections: Ward's per-address limit
# (proxy.max_connections_per_client, 256 by default) is raised to 4,096 here, as the peers have
# none, and nginx on loopback is named in proxy.internal_servers (the proxy never reaches
# loopback otherwise).
# Installs wrk, nginx, e2guardian, squid and squidGuard (Debian packages) if missing. Writes its
# work to bench/out/proxy/ and a summary to bench/out/proxy.txt; BENCHMARKS.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ut1=${UT1:-../shared/data/ut1}
duration=${SECONDS_PER_RUN:-15}
out=bench/out/proxy
rm -rf "$out" && mkdir -p "$out"
# The peers drop privileges (e2guardian to its own user, squid to `proxy`): their files live in
# a directory every user can read.
peers=$(mktemp -d /tmp/ward-proxy-bench.XXXXXX)
chmod 755 "$peers"

source bench/lib.sh
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/sbin/e2guardian ] || missing+=(e2guardian)
[ -x /usr/sbin/squid ] || missing+=(squid)
command -v squidGuard >/dev/null || missing+=(squidguard)
command -v curl >/dev/null || missing+=(curl)
install_packages "${missing[@]}"
stop_services nginx e2guardian squid
cargo build --release --locked -q -p ward
ward=$PWD/target/release/ward
ulimit -n "$(ulimit -Hn)"

trap cleanup EXIT

echo "== blocklist: UT1 domains Ward's default policy blocks for the unknown-client group"
"$ward" lists import --ut1 "$ut1" --out "$out/ut1.idx" --show-bad 0 >/dev/null
cat "$ut1"/*/domains | tr -d '\r' | grep -v '^#' | awk 'NF == 1' | tr 'A-Z' 'a-z' | sort -u > "$out/domains"
"$ward" check --batch --index "$out/ut1.idx" < "$out/domains" | cut -f1 > "$out/verdicts"
paste "$out/domains" "$out/verdicts" | awk -F'\t' '$2 == "block" { print $1 }' > "$out/blocked"
echo "   $(wc -l < "$out/domains") UT1 domains: $(wc -l < "$out/blocked") blocked"

echo "== origin: nginx on loopback"
origin_port=$(free_port)
mkdir -p "$peers/nginx/html"
python3 -c 'print("<!doctype html><title>Ward benchmark page</title>" + "<p>" + "lorem ipsum " * 160 + "</p>")' \
    > "$peers/nginx/html/index.html"
cat > "$peers/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $peers/nginx/nginx.pid;
error_log $peers/nginx/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$origin_port;
        listen [::1]:$origin_port;
        root $peers/nginx/html;
        location = /blocked.html { return 403 "blocked\n"; }
    }
}
EOF
/usr/sbin/nginx -c "$peers/nginx/nginx.conf" -e "$peers/nginx/error.log" &
pids+=($!)

echo "== peers: e2guardian, squid + squidGuard and Ward with the same blocklist"
e2guardian_port=$(free_port)
e2guardian_config "$e2guardian_port"
cp "$out/blocked" "$peers/e2g/lists/bannedsitelist"
: > "$peers/e2g/lists/bannedurllist"
: > "$peers/e2g/lists/bannedregexpurllist"
sed -i -e "s|^weightedphrasemode =.*|weightedphrasemode = 0|" "$peers/e2g/e2guardian.conf"
chown -R e2guardian "$peers/e2g"

squid_port=$(free_port)
mkdir -p "$peers/sg/db/blocked" "$peers/sg/log" "$peers/squid"
cp "$out/blocked" "$peers/sg/db/blocked/domains"
cat > "$peers/sg/squidGuard.conf" <<EOF
dbhome $peers/sg/db
logdir $peers/sg/log
dest blocked {
    domainlist blocked/domains
}
acl {
    default {
        pass !blocked all
        redirect 302:http://localhost:$origin_port/blocked.html
    }
}
EOF
squidGuard -c "$peers/sg/squidGuard.conf" -C all 2>/dev/null
chown -R proxy "$peers/sg" "$peers/squid"
cat > "$peers/squid/squid.conf" <<EOF
http_port 127.0.0.1:$squid_port
pid_filename $peers/squid/squid.pid
cache_log $peers/squid/cache.log
access_log none
cache deny all
cache_mem 8 MB
coredump_dir $peers/squid
max_filedescriptors 16384
cache_effective_user proxy
http_access allow localhost
http_access deny all
url_rewrite_program /usr/bin/squidGuard -c $peers/sg/squidGuard.conf
url_rewrite_children 32 startup=32 idle=8 queue-size=4000
EOF

ward_port=$(free_port)
mkdir -p "$out/ward"

start e2guardian "$e2guardian_port" index.html /usr/sbin/e2guardian -N -c "$peers/e2g/e2guardian.conf"
start squid "$squid_port" index.html /usr/sbin/squid -N -f "$peers/squid/squid.conf"
start ward "$ward_port" index.html env -i PATH="$PATH" WARD_DATA_DIR="$out/ward" WARD_CONSOLE_LISTEN=127.0.0.1:0 \
    WARD_ADMIN_PASSWORD="benchmark only password" WARD_LOG=warn WARD_DNS_LISTEN= \
    WARD_DETECTION_ENABLED=false WARD_PROXY_LISTEN="127.0.0.1:$ward_port" WARD_PROXY_INTERNAL_SERVERS="127.0.0.1:$origin_port" WARD_PROXY_MAX_CONNECTIONS_PER_CLIENT=4096 WARD_FILTER_INDEX="$out/ut1.idx" "$ward" serve

echo "== checking that each forwards the allowed page and blocks the same domain"
blocked_name=$(shuf -n 1 --random-source=<(yes) "$out/blocked")
for name in e2guardian squid ward; do
    port_var=${name}_port
    page=$(curl -s -x "127.0.0.1:${!port_var}" "http://localhost:$origin_port/index.html" | head -c 48)
    blocked=$(curl -s -o "$out/$name.blocked.html" -w '%{http_code} %{redirect_url}' -x "127.0.0.1:${!port_var}" "http://www.$blocked_name/")
    printf '   %-10s allowed: %s…  www.%s: %s\n' "$name" "$page" "$blocked_name" "$blocked"
    [ "$page" = "<!doctype html><title>Ward benchmark page</title" ] || { echo "$name does not forward" >&2; exit 1; }
    case "$name:$blocked" in
        e2guardian:200*) grep -q "Access Denied" "$out/$name.blocked.html" ;;
        squid:302*blocked.html) true ;;
        ward:403*) grep -q "blocked" "$out/$name.blocked.html" ;;
        *) false ;;
    esac || { echo "$name does not block www.$blocked_name" >&2; exit 1; }
done

cat > "$out/allowed.lua" <<EOF
request = function()
    return wrk.format("GET", "http://localhost:$origin_port/index.html", { Host = "localhost:$origin_port" })
end
EOF
python3 - "$out" "$origin_port" <<'EOF'
import random, sys
out, port = sys.argv[1], sys.argv[2]
random.seed(2026)
blocked = random.sample(open(f"{out}/blocked").read().split(), 1000)
with open(f"{out}/mixed.lua", "w") as f:
    f.write("local requests = {}\n")
    for i, name in enumerate(blocked):
        f.write(f'requests[{2 * i + 1}] = wrk.format("GET", "http://www.{name}/", {{ Host = "www.{name}" }})\n')
        f.write(f'requests[{2 * i + 2}] = wrk.format("GET", "http://localhost:{port}/index.html", {{ Host = "localhost:{port}" }})\n')
    f.write("local n = 0\n")
    f.write("request = function() n = n % #requests + 1; return requests[n] end\n")
EOF

summary="bench/out/proxy.txt"
: > "$summary"
for name in e2guardian squid ward; do
    pid_var=${name}_pid
    printf 'idle    0     %-10s %10d req/s  p99 %8.2f ms  %8d KiB RSS\n' "$name" 0 0 "$(tree_rss "${!pid_var}")" | tee -a "$summary"
done
echo "== direct to nginx (the ceiling on this machine)"
for connections in 100 1000; do
    wrk -t2 -c"$connections" -d"$duration"s --latency -s "$out/allowed.lua" "http://127.0.0.1:$origin_port" \
        > "$out/direct-$connections.wrk" 2>&1
    printf 'direct  %-5s %-10s %10.0f req/s\n' "$connections" nginx \
        "$(awk '/Requests\/sec/ { print $2 }' "$out/direct-$connections.wrk")" | tee -a "$summary"
done
for workload in allowed mixed; do
    echo "== workload: $workload ($duration s each, after a 3 s warm-up)"
    for connections in 100 1000; do
        for name in e2guardian squid ward; do
            port_var=${name}_port
            pid_var=${name}_pid
            wrk -t2 -c"$connections" -d3s -s "$out/$workload.lua" "http://127.0.0.1:${!port_var}" >/dev/null 2>&1 || true
            wrk -t2 -c"$connections" -d"$duration"s --latency -s "$out/$workload.lua" "http://127.0.0.1:${!port_var}" \
                > "$out/$workload-$connections-$name.wrk" 2>&1
            file="$out/$workload-$connections-$name.wrk"
            rps=$(awk '/Requests\/sec/ { print $2 }' "$file")
            p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }' "$file")
            errors=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$file")
            other=$(awk '/Non-2xx or 3xx/ { print $5 }' "$file")
            printf '%-7s %-5s %-10s %10.0f req/s  p99 %8.2f ms  %8d KiB RSS  socket errors %s  non-2xx/3xx %s\n' \
                "$workload" "$connections" "$name" "$rps" "$p99" "$(tree_rss "${!pid_var}")" \
                "${errors:-0}" "${other:-0}" | tee -a "$summary"
        done
    done
done

echo "== ratios (Ward / peer)"
awk '$1 != "direct" && $1 != "idle" { key = $1 "," $2; rps[key "," $3] = $4; p99[key "," $3] = $7; rss[key "," $3] = $9 }
     END {
       split("allowed,mixed", workloads, ",")
       split("100,1000", levels, ",")
       for (w = 1; w <= 2; w++) for (c = 1; c <= 2; c++) for (p = 1; p <= 2; p++) {
         key = workloads[w] "," levels[c]
         peer = (p == 1) ? "e2guardian" : "squid"
         printf "%-7s %-5s vs %-10s req/s %.2fx   p99 %.2fx   memory %.2fx\n", workloads[w], levels[c], peer,
           rps[key ",ward"] / rps[key "," peer], p99[key ",ward"] / p99[key "," peer],
           rss[key ",ward"] / rss[key "," peer]
       }
     }' "$summary" | tee -a "$summary"
