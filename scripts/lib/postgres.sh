# Start and stop a throwaway PostgreSQL cluster from Debian's `postgresql` package, for tests and
# benchmarks. Source this file, then:
#   postgres_start FOLDER   # initdb into FOLDER, start on a free port; sets POSTGRES_URL
#   postgres_stop FOLDER    # stop it (immediately); the caller deletes FOLDER
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.

postgres_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

postgres_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_start() {
    local folder=$1 bin port
    bin=$(postgres_bin)
    [ -n "$bin" ] || { echo "PostgreSQL is not installed (Debian package postgresql)" >&2; return 1; }
    mkdir -p "$folder"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$folder"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    postgres_as_owner "$bin/initdb" -D "$folder/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
    postgres_as_owner "$bin/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w \
        -o "-p $port -k $folder -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
        start >/dev/null
    POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

postgres_stop() {
    local folder=$1 bin
    bin=$(postgres_bin)
    [ -d "$folder/data" ] && postgres_as_owner "$bin/pg_ctl" -D "$folder/data" -m immediate -w stop >/dev/null 2>&1 || true
}
