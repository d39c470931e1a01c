#!/usr/bin/env bash
# HTTPS inspection: Ward inspecting against squid with ssl_bump (Debian `squid-openssl`, every
# tunnel bumped, certificates made per site) and e2guardian with MITM on, in one run, with the
# same blocklist, a local nginx with TLS as the origin, and Ward splicing (inspection off) to
# show what inspection costs.
#
#   bench/https.sh                    # 15 s per measurement
#   SECONDS_PER_RUN=5 bench/https.sh
#
# The load is crates/proxy/examples/https_load.rs (wrk and h2load cannot speak through an
# explicit proxy's CONNECT): at 100 and 1,000 concurrent connections,
#   - keep-alive: one tunnel per connection, then requests one after another over HTTP/1.1
#     (each proxy decrypts, decides and re-encrypts every request);
#   - handshake: every request a new connection, CONNECT and full TLS handshake (no resumption):
#     each proxy makes (or finds) the site's certificate, completes a handshake with the client
#     and one with the origin.
# A 2 KiB page, GET https://localhost:PORT/index.html. Every proxy verifies the origin's
# certificate against the benchmark's own origin CA. Memory is the resident set of each proxy's
# whole process tree (squid with its certificate helpers and squidGuard), sampled half way
# through the 1,000-connection keep-alive run. Ward also runs with HTTP/2 to the client (squid 5
# and e2guardian 5 speak only HTTP/1.1 to clients), reported on its own line.
#
# Installs nginx, e2guardian, squid-openssl (it replaces Debian's `squid`, the same squid built
# with OpenSSL), squidGuard and openssl if missing. Writes its work to bench/out/https/ and a
# summary to bench/out/https.txt; BENCHMARKS.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ut1=${UT1:-../shared/data/ut1}
duration=${SECONDS_PER_RUN:-15}
out=bench/out/https
rm -rf "$out" && mkdir -p "$out"
peers=$(mktemp -d /tmp/ward-https-bench.XXXXXX)
chmod 755 "$peers"

source bench/lib.sh
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/sbin/e2guardian ] || missing+=(e2guardian)
if ! { [ -x /usr/sbin/squid ] && /usr/sbin/squid -v | grep -q -- '--with-openssl'; }; then
    missing+=(squid-openssl)
fi
command -v squidGuard >/dev/null || missing+=(squidguard)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
install_packages "${missing[@]}"
stop_services nginx e2guardian squid
cargo build --release --locked -q -p ward
cargo build --release --locked -q -p ward-proxy --example https_load
ward=$PWD/target/release/ward
load=$PWD/target/release/examples/https_load
ulimit -n "$(ulimit -Hn)"

trap cleanup EXIT

echo "== blocklist: UT1 domains Ward's default policy blocks for the unknown-client group"
"$ward" lists import --ut1 "$ut1" --out "$out/ut1.idx" --show-bad 0 >/dev/null
cat "$ut1"/*/domains | tr -d '\r' | grep -v '^#' | awk 'NF == 1' | tr 'A-Z' 'a-z' | sort -u > "$out/domains"
"$ward" check --batch --index "$out/ut1.idx" < "$out/domains" | cut -f1 > "$out/verdicts"
paste "$out/domains" "$out/verdicts" | awk -F'\t' '$2 == "block" { print $1 }' > "$out/blocked"
echo "   $(wc -l < "$out/domains") UT1 domains: $(wc -l < "$out/blocked") blocked"

echo "== certificates: the origin's (its own CA), squid's and e2guardian's CAs"
# make_ca NAME: an ECDSA P-256 CA in $peers/NAME-ca.{pem,key}.
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$1 benchmark CA" -keyout "$peers/$1-ca.key" -out "$peers/$1-ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
}
make_ca origin
make_ca squid
# e2guardian's documentation makes its CA and certificate key with `openssl genrsa`: RSA, in the
# traditional PEM form.
openssl genrsa -traditional 2048 > "$peers/e2guardian-ca.key" 2>/dev/null
openssl req -x509 -new -key "$peers/e2guardian-ca.key" -days 2 -subj "/CN=e2guardian benchmark CA" \
    -out "$peers/e2guardian-ca.pem" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -keyout "$peers/origin.key" -out "$peers/origin.csr" 2>/dev/null
openssl x509 -req -in "$peers/origin.csr" -CA "$peers/origin-ca.pem" -CAkey "$peers/origin-ca.key" \
    -CAcreateserial -days 2 -out "$peers/origin.pem" \
    -extfile <(printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n') 2>/dev/null

echo "== origin: nginx on loopback, plain and TLS (HTTP/1.1 and HTTP/2)"
origin_port=$(free_port)
# Port 443: e2guardian decrypts only CONNECTs to port 443 (ConnectionHandler.cpp,
# `ismitmcandidate`), so the HTTPS origin listens there for every proxy alike.
tls_port=443
if ss -ltn | grep -q '127.0.0.1:443 \|\*:443 \|0.0.0.0:443 '; then
    echo "bench/https.sh: port 443 is in use; the HTTPS origin needs it" >&2
    exit 1
fi
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
        listen 127.0.0.1:$tls_port ssl http2;
        ssl_certificate $peers/origin.pem;
        ssl_certificate_key $peers/origin.key;
        ssl_session_cache shared:SSL:10m;
        root $peers/nginx/html;
    }
}
EOF
/usr/sbin/nginx -c "$peers/nginx/nginx.conf" -e "$peers/nginx/error.log" &
pids+=($!)
sleep 0.5
curl -sf --cacert "$peers/origin-ca.pem" -o /dev/null "https://localhost:$tls_port/index.html" \
    || { echo "nginx does not serve HTTPS" >&2; exit 1; }

echo "== peers: e2guardian (MITM), squid (ssl_bump) + squidGuard, Ward inspecting and Ward splicing"
e2guardian_port=$(free_port)
e2guardian_config "$e2guardian_port"
cp "$out/blocked" "$peers/e2g/lists/bannedsitelist"
: > "$peers/e2g/lists/bannedurllist"
: > "$peers/e2g/lists/bannedregexpurllist"
mkdir -p "$peers/e2g/private/generatedcerts" "$peers/e2g/trusted"
cp "$peers/e2guardian-ca.pem" "$peers/e2g/private/ca.pem"
cp "$peers/e2guardian-ca.key" "$peers/e2g/private/ca.key"
openssl genrsa -traditional 2048 > "$peers/e2g/private/cert.key" 2>/dev/null
cp "$peers/origin-ca.pem" "$peers/e2g/trusted/"
openssl rehash "$peers/e2g/trusted" 2>/dev/null || c_rehash "$peers/e2g/trusted" >/dev/null
sed -i \
    -e "s|^weightedphrasemode =.*|weightedphrasemode = 0|" \
    -e "s|^checkip = 127.0.0.1|#checkip = 127.0.0.1|" \
    -e "s|^enablessl =.*|enablessl = on|" \
    -e "s|^#\?sslcertificatepath =.*|sslcertificatepath = '$peers/e2g/trusted/'|" \
    -e "s|^cacertificatepath =.*|cacertificatepath = '$peers/e2g/private/ca.pem'|" \
    -e "s|^caprivatekeypath =.*|caprivatekeypath = '$peers/e2g/private/ca.key'|" \
    -e "s|^certprivatekeypath =.*|certprivatekeypath = '$peers/e2g/private/cert.key'|" \
    -e "s|^generatedcertpath =.*|generatedcertpath = '$peers/e2g/private/generatedcerts/'|" \
    "$peers/e2g/e2guardian.conf"
# Its certificates are dated from 2014 for ten years unless told otherwise (expired today).
now=$(date +%s)
printf 'generatedcertstart = %d\ngeneratedcertend = %d\n' $((now - 86400)) $((now + 31536000)) \
    >> "$peers/e2g/e2guardian.conf"
sed -i -e "s|^sslmitm =.*|sslmitm = on|" -e "s|^mitmcheckcert =.*|mitmcheckcert = on|" \
    "$peers/e2g/e2guardianf1.conf"
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
cp "$peers/squid-ca.pem" "$peers/squid-ca.key" "$peers/squid/"
/usr/lib/squid/security_file_certgen -c -s "$peers/squid/ssl_db" -M 64MB >/dev/null
chown -R proxy "$peers/sg" "$peers/squid"
cat > "$peers/squid/squid.conf" <<EOF
http_port 127.0.0.1:$squid_port ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=64MB tls-cert=$peers/squid/squid-ca.pem tls-key=$peers/squid/squid-ca.key
sslcrtd_program /usr/lib/squid/security_file_certgen -s $peers/squid/ssl_db -M 64MB
sslcrtd_children 8 startup=4 idle=2
ssl_bump bump all
tls_outgoing_options cafile=$peers/origin-ca.pem
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
splice_port=$(free_port)
mkdir -p "$out/ward" "$out/splice"
env -i PATH="$PATH" WARD_DATA_DIR="$out/ward" WARD_SCHOOL_NAME="Benchmark School" "$ward" ca init >/dev/null
cp "$out/ward/ca/ca.pem" "$peers/ward-ca.pem"
ward_env=(env -i PATH="$PATH" WARD_CONSOLE_LISTEN=127.0.0.1:0 WARD_ADMIN_PASSWORD="benchmark only password"
    WARD_LOG=warn WARD_DNS_LISTEN= WARD_DETECTION_ENABLED=false WARD_FILTER_INDEX="$out/ut1.idx"
    WARD_PROXY_INTERNAL_SERVERS="127.0.0.1:$origin_port,127.0.0.1:$tls_port" WARD_PROXY_CONNECT_PORTS='*'
    WARD_PROXY_MAX_CONNECTIONS_PER_CLIENT=4096 WARD_PROXY_UPSTREAM_CA="$peers/origin-ca.pem")

start e2guardian "$e2guardian_port" index.html /usr/sbin/e2guardian -N -c "$peers/e2g/e2guardian.conf"
start squid "$squid_port" index.html /usr/sbin/squid -N -f "$peers/squid/squid.conf"
start ward "$ward_port" index.html "${ward_env[@]}" WARD_DATA_DIR="$out/ward" \
    WARD_PROXY_LISTEN="127.0.0.1:$ward_port" WARD_PROXY_INSPECT_HTTPS=true "$ward" serve
start splice "$splice_port" index.html "${ward_env[@]}" WARD_DATA_DIR="$out/splice" \
    WARD_PROXY_LISTEN="127.0.0.1:$splice_port" "$ward" serve

echo "== checking that each inspects (its own CA signs the site's certificate) and blocks the same domain"
blocked_name=$(shuf -n 1 --random-source=<(yes) "$out/blocked")
for name in e2guardian squid ward; do
    port_var=${name}_port
    page=$(curl -s --cacert "$peers/$name-ca.pem" -x "127.0.0.1:${!port_var}" \
        "https://localhost:$tls_port/index.html" | head -c 48) || true
    blocked=$(curl -s -o "$out/$name.blocked.html" -w '%{http_code}' --cacert "$peers/$name-ca.pem" \
        -x "127.0.0.1:${!port_var}" "https://www.$blocked_name/" || true)
    printf '   %-10s https page through it, trusting only its CA: %s…  https://www.%s/: %s\n' \
        "$name" "$page" "$blocked_name" "$blocked"
    [ "$page" = "<!doctype html><title>Ward benchmark page</title" ] \
        || { echo "$name does not inspect https://localhost:$tls_port/" >&2; exit 1; }
done
page=$(curl -s --cacert "$peers/origin-ca.pem" -x "127.0.0.1:$splice_port" \
    "https://localhost:$tls_port/index.html" | head -c 48) || true
printf '   %-10s https page through it, trusting only the origin: %s…\n' splice "$page"
[ "$page" = "<!doctype html><title>Ward benchmark page</title" ] || { echo "Ward does not splice" >&2; exit 1; }

summary="bench/out/https.txt"
: > "$summary"
# measure WORKLOAD CONNECTIONS NAME PORT [EXTRA...]: one run after a 3 s warm-up; memory sampled
# half way through.
measure() {
    local workload=$1 connections=$2 name=$3 port=$4; shift 4
    local mode=keep-alive label=$name
    [ "$workload" = handshake ] && mode=handshake
    [ "$#" -gt 0 ] && label="$name-h2"
    "$load" --proxy "127.0.0.1:$port" --target "localhost:$tls_port" --path /index.html \
        --connections "$connections" --seconds 3 --mode "$mode" "$@" >/dev/null 2>&1 || true
    "$load" --proxy "127.0.0.1:$port" --target "localhost:$tls_port" --path /index.html \
        --connections "$connections" --seconds "$duration" --mode "$mode" "$@" \
        > "$out/$workload-$connections-$label.load" 2>&1 &
    local loader=$!
    sleep "$(echo "$duration / 2" | bc -l)"
    local pid_var=${name}_pid
    local rss
    rss=$(tree_rss "${!pid_var}")
    wait "$loader"
    read -r _ _ _ rps _ _ _ _ p99 _ _ errors _ reconnects < "$out/$workload-$connections-$label.load"
    printf '%-10s %-5s %-10s %8.0f req/s  p99 %8.2f ms  %8d KiB RSS  errors %s  reconnects %s\n' \
        "$workload" "$connections" "$label" "$rps" "$p99" "$rss" "$errors" "$reconnects" | tee -a "$summary"
}
for name in e2guardian squid ward splice; do
    pid_var=${name}_pid
    printf 'idle       0     %-10s %8d req/s  p99 %8.2f ms  %8d KiB RSS\n' "$name" 0 0 "$(tree_rss "${!pid_var}")" | tee -a "$summary"
done
for workload in keep-alive handshake; do
    echo "== workload: $workload ($duration s each, after a 3 s warm-up)"
    for connections in 100 1000; do
        for name in e2guardian squid ward splice; do
            port_var=${name}_port
            measure "$workload" "$connections" "$name" "${!port_var}"
        done
    done
done
echo "== Ward with HTTP/2 to the client"
for connections in 100 1000; do
    measure keep-alive "$connections" ward "$ward_port" --http2
done

echo "== ratios (Ward inspecting / peer; Ward inspecting / Ward splicing)"
awk '$1 != "idle" && $3 !~ /-h2$/ { key = $1 "," $2; rps[key "," $3] = $4; p99[key "," $3] = $7; rss[key "," $3] = $9 }
     END {
       split("keep-alive,handshake", workloads, ",")
       split("100,1000", levels, ",")
       split("e2guardian,squid,splice", peers, ",")
       for (w = 1; w <= 2; w++) for (c = 1; c <= 2; c++) for (p = 1; p <= 3; p++) {
         key = workloads[w] "," levels[c]
         printf "%-9s %-5s vs %-10s req/s %.2fx   p99 %.2fx   memory %.2fx\n", workloads[w], levels[c], peers[p],
           rps[key ",ward"] / rps[key "," peers[p]], p99[key ",ward"] / p99[key "," peers[p]],
           rss[key ",ward"] / rss[key "," peers[p]]
       }
     }' "$summary" | tee -a "$summary"
