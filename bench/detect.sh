#!/usr/bin/env bash
# Risk-detection scanning throughput: Ward's default phrase list plus every e2guardian phrase list
# Debian ships (about 20,000 phrases), on real HTML pages (the Node.js API reference Debian's
# `nodejs` package installs: 66 pages, 18 MB), one thread. Each page goes through what the proxy
# does to it: HTML to text, normalisation, phrase matching.
#
#   bench/detect.sh
#
# Installs the `e2guardian` and `nodejs` packages if missing. Prints the figures;
# BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
lists=/etc/e2guardian/lists/phraselists
pages=/usr/share/doc/nodejs/api
if [ ! -d "$lists" ] || [ ! -d "$pages" ]; then
    apt-get update -qq && apt-get install -y -qq e2guardian nodejs >/dev/null
fi
cargo build --release --locked -q -p ward-detect --example scan_bench
echo "== $(nproc) cores; lists from $lists; pages from $pages"
target/release/examples/scan_bench "$lists" "$pages"/*.html
