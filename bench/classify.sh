#!/usr/bin/env bash
# URL classification: Ward against squidGuard, on the same UT1 lists and the same URLs, in one run.
#
#   bench/classify.sh            # 1,000,000 URLs (squidGuard alone takes a few minutes)
#   URLS=100000 bench/classify.sh
#
# Installs squidGuard (Debian package `squidguard`) if it is missing. Writes its work to
# bench/out/ and a summary to bench/out/classify.txt; BENCHMARKS.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ut1=${UT1:-../shared/data/ut1}
out=bench/out
urls=${URLS:-1000000}
synthetic=${SYNTHETIC:-2700000}
mkdir -p "$out"

if ! command -v squidGuard >/dev/null; then
    apt-get update -qq && apt-get install -y -qq squidguard >/dev/null
fi
cargo build --release --locked -q -p ward
cargo build --release --locked -q -p ward-lists --example classify_bench
ward=target/release/ward
probe=target/release/examples/classify_bench

echo "== inputs: $urls URLs, UT1 from $ut1, $synthetic synthetic domains"
python3 bench/make_data.py "$ut1" "$out" "$urls" "$synthetic"

measure() { # measure NAME COMMAND... : runs with GNU time; records seconds and peak RSS (KiB)
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$out/$name.time" "$@"
    read -r seconds rss < "$out/$name.time"
    printf '%-28s %8.2f s  %8d KiB peak RSS\n' "$name" "$seconds" "$rss" >&2
}

measure_median() { # measure_median NAME RUNS COMMAND... : runs RUNS times, keeps the median run
    local name=$1 runs=$2; shift 2
    local run
    for run in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$out/$name.$run.time" "$@"
    done
    sort -n "$out/$name".*.time | sed -n "$(( (runs + 1) / 2 ))p" > "$out/$name.time"
    rm -f "$out/$name".*.time
    read -r seconds rss < "$out/$name.time"
    printf '%-28s %8.2f s  %8d KiB peak RSS (median of %d runs)\n' "$name" "$seconds" "$rss" "$runs" >&2
}

echo "== build: Ward index and squidGuard databases from the same lists"
measure ward-import "$ward" lists import --ut1 "$ut1" --out "$out/ut1.idx" --show-bad 0 >/dev/null
rm -rf "$out/sg" && mkdir -p "$out/sg/log" && cp -r "$ut1" "$out/sg/db"
config="$out/sg/squidGuard.conf"
{
    echo "dbhome $PWD/$out/sg/db"
    echo "logdir $PWD/$out/sg/log"
    names=()
    for folder in "$out"/sg/db/*/; do
        name=$(basename "$folder")
        body=""
        [ -f "$folder/domains" ] && body+="    domainlist $name/domains"$'\n'
        [ -f "$folder/urls" ] && body+="    urllist $name/urls"$'\n'
        [ -s "$folder/expressions" ] && body+="    expressionlist $name/expressions"$'\n'
        [ -n "$body" ] && { printf 'dest %s {\n%s}\n' "$name" "$body"; names+=("!$name"); }
        if [ -s "$folder/very_restrictive_expression" ]; then
            printf 'dest %s_very_restrictive {\n    expressionlist %s/very_restrictive_expression\n}\n' "$name" "$name"
            names+=("!${name}_very_restrictive")
        fi
    done
    echo "acl {"
    echo "    default {"
    echo "        pass ${names[*]} all"
    echo "        redirect http://blocked.invalid/?category=%t"
    echo "    }"
    echo "}"
} > "$config"
measure squidguard-build squidGuard -c "$config" -C all

echo "== classify the same $urls URLs through each tool's stdin interface (one core each)"
# squidGuard takes minutes and varies little; Ward takes about a second, so the page cache and
# the scheduler move a single run by several per cent: it is run five times and the median kept.
measure squidguard-classify sh -c "squidGuard -c '$config' < '$out/squidguard.txt' > '$out/squidguard.out'"
measure_median ward-classify 5 sh -c "'$ward' check --batch --group staff --index '$out/ut1.idx' < '$out/urls.txt' > '$out/ward.out'"
measure_median ward-classify-squid 5 sh -c "'$ward' check --squid --group staff --index '$out/ut1.idx' < '$out/squidguard.txt' > '$out/ward-squid.out'"

echo "== agreement: categorised (blocked by squidGuard's pass-nothing ACL) by both, by one"
paste -d '\t' "$out/squidguard.out" "$out/ward.out" | awk -F'\t' '
    { sg = ($1 ~ /^OK/); w = ($4 != "-"); both += (sg && w); none += (!sg && !w); sg_only += (sg && !w); ward_only += (!sg && w) }
    END { printf "both %d, neither %d, squidGuard only %d, Ward only %d, agreement %.3f%%\n", both, none, sg_only, ward_only, 100 * (both + none) / NR }'

echo "== Ward in-process, UT1 index"
"$probe" "$out/ut1.idx" "$out/urls.txt" | tee "$out/probe-ut1.txt"

echo "== Ward index grown to ~3M domains (UT1 + synthetic)"
measure ward-import-3m "$ward" lists import --ut1 "$ut1" --domains "synthetic=$out/synthetic.txt" --out "$out/3m.idx" --show-bad 0 >/dev/null
"$probe" "$out/3m.idx" "$out/urls.txt" | tee "$out/probe-3m.txt"

echo "== summary"
python3 - "$urls" "$out" <<'PY'
import sys
urls, out = int(sys.argv[1]), sys.argv[2]
seconds = lambda name: float(open(f"{out}/{name}.time").read().split()[0])
sg = seconds("squidguard-classify")
print(f"squidGuard                   {urls / sg:>11,.0f} URLs/s")
for name, label in (("ward-classify", "ward check --batch"), ("ward-classify-squid", "ward check --squid")):
    print(f"{label:<28} {urls / seconds(name):>11,.0f} URLs/s  {sg / seconds(name):.0f}x squidGuard")
PY
