# Shared by the proxy benchmarks (bench/proxy.sh, bench/detect_proxy.sh): sourced, not run.
# The caller sets `out` (its work folder), `peers` (a folder every user can read, removed at the
# end) and `origin_port` (the nginx that `start` checks forwarding against).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Installs the Debian packages named, if any.
install_packages() {
    if [ $# -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    fi
}

# nginx, e2guardian and squid start themselves as services when installed; the runs use their own.
stop_services() {
    for service in "$@"; do
        if command -v systemctl >/dev/null && systemctl is-active -q "$service" 2>/dev/null; then
            systemctl stop "$service" || true
        fi
    done
}

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    # e2guardian can take its time over SIGTERM with a thousand idle workers.
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$peers"
}

# start NAME PORT PATH COMMAND...: starts a proxy, waits until it forwards
# http://localhost:$origin_port/PATH, records its pid as ${NAME}_pid.
start() {
    local name=$1 port=$2 path=$3; shift 3
    local started=$(date +%s.%N)
    "$@" >"$out/$name.log" 2>&1 &
    local pid=$!
    pids+=($pid)
    for _ in $(seq 1 300); do
        if curl -sf -o /dev/null -x "127.0.0.1:$port" "http://localhost:$origin_port/$path" 2>/dev/null; then
            printf '   %-10s pid %-7s forwarding after %.1f s\n' "$name" "$pid" "$(echo "$(date +%s.%N) - $started" | bc)"
            eval "${name}_pid=$pid"
            return
        fi
        sleep 0.2
    done
    echo "$name did not start; its log:" >&2
    tail -20 "$out/$name.log" >&2
    exit 1
}

# An e2guardian configuration in $peers/e2g, listening on 127.0.0.1:PORT, not a daemon, logging
# denied requests only: copies /etc/e2guardian with its paths rewritten.
e2guardian_config() {
    local port=$1
    cp -r /etc/e2guardian "$peers/e2g"
    grep -rl /etc/e2guardian "$peers/e2g" | xargs sed -i "s|/etc/e2guardian|$peers/e2g|g"
    sed -i \
        -e "s|^filterip =.*|filterip = 127.0.0.1|" \
        -e "s|^filterports =.*|filterports = $port|" \
        -e "s|^transparenthttpsport =.*|transparenthttpsport = $(free_port)|" \
        -e "s|^httpworkers =.*|httpworkers = 1200|" \
        -e "s|^nodaemon =.*|nodaemon = on|" \
        -e "s|^loglevel =.*|loglevel = 1|" \
        "$peers/e2g/e2guardian.conf"
    {
        echo "pidfilename = '$peers/e2g/e2guardian.pid'"
        echo "loglocation = '$peers/e2g/access.log'"
    } >> "$peers/e2g/e2guardian.conf"
}

# Resident memory (KiB) of a process and all its descendants.
tree_rss() {
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
children = {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError):
            pass
total, todo = 0, [root]
while todo:
    pid = todo.pop()
    todo.extend(children.get(pid, []))
    try:
        with open(f"/proc/{pid}/status") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    except (OSError, StopIteration):
        pass
print(total)
PY
}
