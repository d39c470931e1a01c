#!/usr/bin/env bash
# The console at a year of data (issue 26): a school's database filled with SQL to 10,000,000
# blocked requests (about 270 days, 1,000 pupils, 5,000 sites, one site a fifth of the traffic),
# 50,000 alerts and 300 incidents, then every console page asked by a logged-in client, on SQLite
# and on PostgreSQL, one after the other. The target: every page under 100 ms at p95.
#
#   bench/console.sh                    # both backends, 10M events
#   EVENTS=1000000 bench/console.sh     # a quicker run
#   BACKENDS=sqlite bench/console.sh
#
# Needs sqlite3 and PostgreSQL (Debian packages; installed if missing). Writes to bench/out/console/.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-10000000}
alerts=${ALERTS:-50000}
backends=${BACKENDS:-sqlite postgres}
runs=${RUNS:-20}
out=$PWD/bench/out/console
rm -rf "$out" && mkdir -p "$out"
chmod 755 "$out"
missing=()
command -v sqlite3 >/dev/null || missing+=(sqlite3)
[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
source scripts/lib/postgres.sh
cargo build --release --locked -q -p ward
ward=$PWD/target/release/ward
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

now=$(date +%s)
# The rows, as one SELECT over a sequence `n` (1…N): the same expressions for both databases.
# A request's day comes from n / 37, so that every day has every kind of traffic (a day from n
# itself would put the popular site's fifth of the traffic on days of its own).
events_select="
SELECT 1,
  ($now - ((n / 37) % 270) * 86400) * 1000000 - 86400000000 + 28800000000 + ((n * 7919) % 28800) * 1000000,
  'gateway', 'proxy', '10.0.' || (n % 250) || '.' || (n % 200),
  CASE WHEN n % 10 = 0 THEN NULL ELSE first_person + (n * 31) % 999 END,
  CASE WHEN n % 5 = 0 THEN 'www.tiktok.com' WHEN n % 1000000 = 17 THEN 'rare-site.example'
       ELSE 'site' || ((n * 7919) % 5000) || '.example' END,
  'http://' || CASE WHEN n % 5 = 0 THEN 'www.tiktok.com' ELSE 'site' || ((n * 7919) % 5000) || '.example' END || '/page' || (n % 97),
  CASE WHEN n % 10 = 5 THEN 'rewrite' ELSE 'block' END,
  CASE WHEN n % 5 = 0 THEN 'social_networks' WHEN n % 1000000 = 17 THEN 'hacking'
       ELSE (CASE (((n * 7919) % 5000) / 7) % 10 WHEN 0 THEN 'gambling' WHEN 1 THEN 'adult' WHEN 2 THEN 'adult,porn'
             WHEN 3 THEN 'games' WHEN 4 THEN 'chat' WHEN 5 THEN 'shopping' WHEN 6 THEN 'violence'
             WHEN 7 THEN 'drugs' WHEN 8 THEN 'dating' ELSE 'proxy' END) END,
  'unacceptable for pupils',
  CASE WHEN n % 10 = 5 THEN 'search ' || (n % 1000) ELSE NULL END,
  1"
alerts_select="
SELECT 1, ($now - (n % 270) * 86400 - (n % 28800)) * 1000000, ($now - (n % 270) * 86400) * 1000000,
  1 + n % 5,
  CASE n % 5 WHEN 0 THEN 'gambling' WHEN 1 THEN 'self-harm' WHEN 2 THEN 'adult' WHEN 3 THEN 'violence' ELSE 'bullying' END,
  first_person + (n * 31) % 999, 'person:' || (first_person + (n * 31) % 999),
  CASE WHEN n % 20 = 0 THEN 'new' WHEN n % 20 = 1 THEN 'triaged' ELSE 'closed' END,
  'Blocked: site' || (n % 5000) || '.example', 'blocked', 1 + n % 7,
  ($now - (n % 270) * 86400) * 1000000"

# The fill, with `--SEQ N` before each statement that reads the sequence `seq(n)`, 1…N; each
# database's own way of making the sequence is put in by `dialect`.
fill() {
    cat <<SQL
-- 1,000 pupils (p1001…p2000); p2000 has no events.
--SEQ 1000
INSERT INTO people (school_id, kind, username, given_name, family_name, year_group, key_stage, class_name, created_at, updated_at)
SELECT 1, 'pupil', 'p' || (1000 + n), 'Pupil', 'Number ' || n, '' || (3 + n % 4), 'KS2', (3 + n % 4) || 'K', $now, $now FROM seq;
CREATE TEMP TABLE bench_first (first_person BIGINT);
INSERT INTO bench_first SELECT MIN(id) FROM people WHERE school_id = 1 AND username LIKE 'p%';
--SEQ $events
INSERT INTO events (school_id, at, gateway, source, client_ip, person_id, host, url, action, categories, reason, search_term, requests)
$events_select FROM seq, bench_first;
--SEQ $alerts
INSERT INTO alerts (school_id, created_at, updated_at, severity, category, person_id, subject, status, summary, source, repeats, last_seen)
$alerts_select FROM seq, bench_first;
--SEQ 300
INSERT INTO incidents (school_id, created_at, created_by, audience, kind, person_id, username, station, evidence, reported_by, welfare)
SELECT 1, ($now - n * 3600) * 1000000, 'admin', 'pupil', CASE WHEN n % 2 = 0 THEN 'non-educational-sites' ELSE 'self-harm' END,
  first_person + n, 'p' || (1000 + n), '', 'Bench incident ' || n, 'Bench', n % 2 FROM seq, bench_first;
INSERT INTO incident_people (school_id, incident_id, person_id, added_at, added_by)
SELECT school_id, id, person_id, created_at, 'admin' FROM incidents WHERE person_id IS NOT NULL;
-- What the event writer keeps beside the events.
INSERT INTO traffic_hours (school_id, hour, categories, allowed, blocked)
SELECT school_id, (at / 3600000000) * 3600000000, categories, 0, SUM(requests) FROM events
WHERE action = 'block' GROUP BY school_id, (at / 3600000000) * 3600000000, categories;
INSERT INTO event_hosts (school_id, host, categories) SELECT DISTINCT school_id, host, categories FROM events;
SQL
}

pages() {
    local alert=$1 incident=$2 person=$3
    cat <<PAGES
GET /
GET /alerts
GET /alerts?status=closed
GET /alerts?severity=5&status=closed
GET /alerts?person=p1042&status=closed
GET /alerts?class=4K&status=closed
GET /alerts/$alert
GET /incidents
GET /incidents/$incident
GET /people
GET /people?q=number+42
GET /people/$person
GET /people/$person/chronology
GET /audit
GET /unblock
GET /unblock/log
GET /filtering
GET /filtering/versions
GET /watched
GET /activity
POST /activity person=p1042&reason=Bench:+a+typical+pupil
POST /activity person=p2000&reason=Bench:+a+pupil+with+no+events
POST /activity site=rare-site
POST /activity site=tiktok
POST /activity category=gambling&from=$(date -d '31 days ago' +%F)&to=$(date +%F)
POST /activity site=site4242&category=violence
POST /activity site=site4
POST /activity from=$(date -d '7 days ago' +%F)&to=$(date +%F)
PAGES
}

for backend in $backends; do
    echo "== $backend: migrate, fill ($events events, $alerts alerts), measure"
    data=$out/$backend
    mkdir -p "$data"
    chmod 755 "$data"
    case $backend in
    sqlite)
        url="sqlite://$data/ward.db"
        ;;
    postgres)
        postgres_start "$data/postgres" >/dev/null
        url=$POSTGRES_URL
        ;;
    esac
    port=$(free_port)
    proxy_port=$(free_port)
    # The gateway runs beside the console, as on a school's box (its filtering pages check
    # changes against it), with the UT1 lists.
    [ -f "$out/ward.idx" ] || "$ward" lists import --ut1 ../shared/data/ut1 --out "$out/ward.idx" >/dev/null
    start_ward() {
        env -i PATH=/usr/bin:/bin HOME="$data" WARD_DATA_DIR="$data" WARD_DATABASE_URL="$url" \
            WARD_CONSOLE_LISTEN="127.0.0.1:$port" WARD_PROXY_LISTEN="127.0.0.1:$proxy_port" WARD_DNS_LISTEN="" \
            WARD_FILTER_INDEX="$out/ward.idx" \
            WARD_ADMIN_PASSWORD="bench console password" "$ward" serve >>"$data/ward.log" 2>&1 &
        ward_pid=$!
        for _ in $(seq 1 600); do
            curl -sf -o /dev/null "http://127.0.0.1:$port/login" && return
            sleep 0.5
        done
        echo "Ward did not start:" >&2; tail -20 "$data/ward.log" >&2; exit 1
    }
    start_ward
    kill "$ward_pid"; wait "$ward_pid" 2>/dev/null || true
    started=$(date +%s)
    fill | python3 bench/console_fill.py "$backend" > "$data/fill.sql"
    case $backend in
    sqlite) sqlite3 "$data/ward.db" < "$data/fill.sql" ;;
    postgres) psql -q -v ON_ERROR_STOP=1 "$url" -f "$data/fill.sql" >/dev/null ;;
    esac
    echo "   filled in $(( $(date +%s) - started )) s"
    start_ward
    query() {
        case $backend in
        sqlite) sqlite3 "$data/ward.db" "$1" ;;
        postgres) psql -At "$url" -c "$1" ;;
        esac
    }
    alert=$(query "SELECT MAX(id) FROM alerts WHERE status = 'closed'")
    incident=$(query "SELECT MAX(id) FROM incidents")
    person=$(query "SELECT id FROM people WHERE username = 'p1042'")
    echo "   $(query 'SELECT COUNT(*) FROM events') events, $(query 'SELECT COUNT(*) FROM alerts') alerts"
    pages "$alert" "$incident" "$person" > "$data/pages.txt"
    {
        echo "| page ($backend) | p50 ms | p95 ms | slowest ms | size | < 100 ms at p95 |"
        echo "|---|---|---|---|---|---|"
        python3 bench/console_measure.py "http://127.0.0.1:$port" admin "bench console password" "$data/pages.txt" "$runs"
    } | tee "$out/$backend.md"
    kill "$ward_pid"; wait "$ward_pid" 2>/dev/null || true
    if [ "$backend" = postgres ]; then postgres_stop "$data/postgres"; fi
done
