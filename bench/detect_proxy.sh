#!/usr/bin/env bash
# Risk detection end to end: Ward's proxy scanning pages against e2guardian's weighted-phrase
# content filtering, on the same pages with the same phrase lists, in one run; each also with
# scanning off, to show what scanning costs.
#
#   bench/detect_proxy.sh                    # 15 s per measurement
#   SECONDS_PER_RUN=5 bench/detect_proxy.sh
#
# Pages: the Node.js API reference Debian's `nodejs` package installs (64 HTML pages, 9.7 MB;
# all.html, 8 MB, is left out: e2guardian does not scan a page over its size limit at all,
# Ward scans its first MiB). nginx serves them on loopback; wrk (2 threads, 16 connections,
# keep-alive) asks for them in turn through each proxy. Phrases: every e2guardian list Debian
# ships (weighted and banned); Ward also has its own list. Both read up to 1 MiB of each page:
# e2guardian's maxcontentfiltersize and Ward's page_limit_kb. e2guardian's naughtiness limit is
# raised so no page is blocked (both pass every page on, as Ward does: it alerts, not blocks);
# a banned phrase still blocks, which the check before the runs uses to show e2guardian scans.
#
# Installs wrk, nginx, e2guardian, nodejs and curl (Debian packages) if missing. Writes its work
# to bench/out/detect_proxy/ and a summary to bench/out/detect_proxy.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${SECONDS_PER_RUN:-15}
out=bench/out/detect_proxy
rm -rf "$out" && mkdir -p "$out"
# e2guardian reads the paths in phrase lists' .Include lines in lower case: no capitals here.
peers=/tmp/ward-detect-bench-$$
rm -rf "$peers" && mkdir -p "$peers"
chmod 755 "$peers"
source bench/lib.sh

missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/sbin/e2guardian ] || missing+=(e2guardian)
[ -d /usr/share/doc/nodejs/api ] || missing+=(nodejs)
command -v curl >/dev/null || missing+=(curl)
install_packages "${missing[@]}"
stop_services nginx e2guardian
cargo build --release --locked -q -p ward
ward=$PWD/target/release/ward
ulimit -n "$(ulimit -Hn)"
trap cleanup EXIT
lists=/etc/e2guardian/lists/phraselists

echo "== origin: nginx on loopback with the Node.js API pages"
origin_port=$(free_port)
mkdir -p "$peers/nginx/html"
find /usr/share/doc/nodejs/api -maxdepth 1 -name '*.html' ! -name all.html -exec cp {} "$peers/nginx/html/" \;
# The check pages: one with a phrase of Ward's self-harm list, one with a phrase e2guardian bans.
banned=$(grep -hv '^#' "$lists/pornography/banned" | grep -im1 '^<[a-z ]*>$' | tr -d '<>')
echo "<!doctype html><title>check</title><p>I want to kill myself tonight</p>" > "$peers/nginx/html/check-ward.html"
echo "<!doctype html><title>check</title><p>$banned</p>" > "$peers/nginx/html/check-e2g.html"
pages=$(cd "$peers/nginx/html" && ls -- *.html | grep -v '^check-')
echo "   $(echo "$pages" | wc -l) pages, $(cd "$peers/nginx/html" && cat $pages | wc -c) bytes"
cat > "$peers/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $peers/nginx/nginx.pid;
error_log $peers/nginx/error.log;
events { worker_connections 8192; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$origin_port;
        root $peers/nginx/html;
    }
}
CONF
/usr/sbin/nginx -c "$peers/nginx/nginx.conf" -e "$peers/nginx/error.log" &
pids+=($!)
{
    echo "local requests = {}"
    i=0
    for page in $pages; do
        i=$((i + 1))
        echo "requests[$i] = wrk.format(\"GET\", \"http://localhost:$origin_port/$page\", { Host = \"localhost:$origin_port\" })"
    done
    echo "local n = 0"
    echo "request = function() n = n % #requests + 1; return requests[n] end"
} > "$out/pages.lua"

echo "== e2guardian (phrase filtering on, and off) and Ward (risk detection on, and off)"
e2g_on_port=$(free_port)
e2guardian_config "$e2g_on_port"
{
    find "$peers/e2g/lists/phraselists" -type f -name 'weighted*' | sort | sed 's|.*|.Include<&>|'
} > "$peers/e2g/lists/weightedphraselist"
{
    find "$peers/e2g/lists/phraselists" -type f -name 'banned*' | sort | sed 's|.*|.Include<&>|'
} > "$peers/e2g/lists/bannedphraselist"
sed -i \
    -e "s|^weightedphrasemode =.*|weightedphrasemode = 2|" \
    -e "s|^maxcontentfiltersize =.*|maxcontentfiltersize = 1024|" \
    -e "s|^maxcontentramcachescansize =.*|maxcontentramcachescansize = 1024|" \
    "$peers/e2g/e2guardian.conf"
sed -i -e "s|^naughtynesslimit =.*|naughtynesslimit = 1000000|" "$peers/e2g/e2guardianf1.conf"
# The same, scanning off, on its own port and pid file.
cp -r "$peers/e2g" "$peers/e2g-off"
grep -rl "$peers/e2g/" "$peers/e2g-off" | xargs sed -i "s|$peers/e2g/|$peers/e2g-off/|g"
e2g_off_port=$(free_port)
sed -i \
    -e "s|^filterports =.*|filterports = $e2g_off_port|" \
    -e "s|^transparenthttpsport =.*|transparenthttpsport = $(free_port)|" \
    -e "s|^weightedphrasemode =.*|weightedphrasemode = 0|" \
    "$peers/e2g-off/e2guardian.conf"
: > "$peers/e2g-off/lists/bannedphraselist"
chown -R e2guardian "$peers/e2g" "$peers/e2g-off"

# URL filtering is not what is measured: Ward gets a one-entry category index (e2guardian keeps
# Debian's site lists, which are nearly empty).
echo "casino.test" > "$out/gambling.txt"
"$ward" lists import --domains "gambling=$out/gambling.txt" --out "$out/ward.idx" >/dev/null
ward_on_port=$(free_port)
ward_off_port=$(free_port)
mkdir -p "$out/ward-on" "$out/ward-off"
ward_env() {
    env -i PATH="$PATH" WARD_DATA_DIR="$out/ward-$1" WARD_CONSOLE_LISTEN=127.0.0.1:0 \
        WARD_ADMIN_PASSWORD="benchmark only password" WARD_LOG=info WARD_DNS_LISTEN= \
        WARD_PROXY_LISTEN="127.0.0.1:$2" WARD_PROXY_INTERNAL_SERVERS="127.0.0.1:$origin_port" WARD_PROXY_MAX_CONNECTIONS_PER_CLIENT=4096 WARD_DETECTION_ENABLED="$3" \
        WARD_DETECTION_E2GUARDIAN="$lists" WARD_DETECTION_PAGE_LIMIT_KB=1024 \
        WARD_FILTER_INDEX="$out/ward.idx" "$ward" serve
}
start e2g_on "$e2g_on_port" index.html /usr/sbin/e2guardian -N -c "$peers/e2g/e2guardian.conf"
start e2g_off "$e2g_off_port" index.html /usr/sbin/e2guardian -N -c "$peers/e2g-off/e2guardian.conf"
start ward_on "$ward_on_port" index.html ward_env on "$ward_on_port" true
start ward_off "$ward_off_port" index.html ward_env off "$ward_off_port" false

echo "== checking that each forwards the pages and that the scanning ones scan"
for name in e2g_on e2g_off ward_on ward_off; do
    port_var=${name}_port
    size=$(curl -s -x "127.0.0.1:${!port_var}" "http://localhost:$origin_port/fs.html" | wc -c)
    [ "$size" = "$(wc -c < "$peers/nginx/html/fs.html")" ] || { echo "$name did not pass fs.html on whole ($size bytes)" >&2; exit 1; }
done
# (Answers are read whole before grep: `curl | grep -q` fails under pipefail when grep stops early.)
answer=$(curl -s -x "127.0.0.1:$e2g_on_port" "http://localhost:$origin_port/check-e2g.html")
grep -q "Access Denied" <<< "$answer" \
    || { echo "e2guardian did not block the banned phrase \"$banned\": its content filter is off" >&2; exit 1; }
answer=$(curl -s -x "127.0.0.1:$e2g_off_port" "http://localhost:$origin_port/check-e2g.html")
grep -q "$banned" <<< "$answer" || { echo "e2guardian (off) blocked the banned phrase" >&2; exit 1; }
curl -s -o /dev/null -x "127.0.0.1:$ward_on_port" "http://localhost:$origin_port/check-ward.html"
grep -m1 "risk detection on" "$out/ward_on.log" | sed 's/^/   ward_on: /'
ward_db="$out/ward-on/ward.db"
for _ in $(seq 1 50); do
    found=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from alerts where source = 'detection' and category = 'self-harm'\").fetchone()[0])" "$ward_db" 2>/dev/null || echo 0)
    [ "$found" -gt 0 ] && break
    sleep 0.2
done
[ "${found:-0}" -gt 0 ] || { echo "Ward raised no self-harm alert for check-ward.html: detection is off" >&2; exit 1; }
echo "   e2guardian blocks \"$banned\"; Ward raised a self-harm alert for check-ward.html"

summary="bench/out/detect_proxy.txt"
: > "$summary"
to_mb() { awk '{ v = $1; if (v ~ /GB$/) { sub(/GB$/, "", v); v *= 1024 } else if (v ~ /MB$/) { sub(/MB$/, "", v) } else if (v ~ /KB$/) { sub(/KB$/, "", v); v /= 1024 } print v }'; }
run() {
    local name=$1 port=$2
    wrk -t2 -c16 -d3s -s "$out/pages.lua" "http://127.0.0.1:$port" >/dev/null 2>&1 || true
    wrk -t2 -c16 -d"$duration"s --latency -s "$out/pages.lua" "http://127.0.0.1:$port" > "$out/$name.wrk" 2>&1
    local file="$out/$name.wrk"
    local rps=$(awk '/Requests\/sec/ { print $2 }' "$file")
    local mbs=$(awk '/Transfer\/sec/ { print $2 }' "$file" | to_mb)
    local p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }' "$file")
    local errors=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$file")
    local other=$(awk '/Non-2xx or 3xx/ { print $5 }' "$file")
    local rss=0
    [ "$name" != direct ] && { local pid_var=${name}_pid; rss=$(tree_rss "${!pid_var}"); }
    printf '%-9s %8.0f pages/s %8.1f MB/s  p99 %8.2f ms  %8d KiB RSS  socket errors %s  non-2xx/3xx %s\n' \
        "$name" "$rps" "$mbs" "$p99" "$rss" "${errors:-0}" "${other:-0}" | tee -a "$summary"
}
echo "== $duration s each, after a 3 s warm-up; 2 cores shared by wrk, nginx and the proxy"
run direct "$origin_port"
for name in e2g_off e2g_on ward_off ward_on; do
    port_var=${name}_port
    run "$name" "${!port_var}"
done
echo "== ratios"
awk '{ mbs[$1] = $4; p99[$1] = $7 }
     END {
       printf "scanning on:  Ward / e2guardian  MB/s %.2fx  p99 %.2fx\n", mbs["ward_on"] / mbs["e2g_on"], p99["ward_on"] / p99["e2g_on"]
       printf "scanning off: Ward / e2guardian  MB/s %.2fx\n", mbs["ward_off"] / mbs["e2g_off"]
       printf "cost of scanning: Ward keeps %.0f%% of its throughput, e2guardian %.0f%%\n", 100 * mbs["ward_on"] / mbs["ward_off"], 100 * mbs["e2g_on"] / mbs["e2g_off"]
     }' "$summary" | tee -a "$summary"
