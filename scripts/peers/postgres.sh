#!/usr/bin/env bash
# Real PostgreSQL for the integration tests, from Debian's packages, on loopback only.
#   scripts/peers/postgres.sh start   install if needed, start a throwaway cluster, print its env file
#   scripts/peers/postgres.sh stop    stop it
# The cluster lives in /tmp/cdm-peers/postgres (readable by the postgres user; removed on start, so every run begins empty) and
# listens on 127.0.0.1:${CDM_TEST_PG_PORT:-55432}. The superuser password is generated per run
# and written, with the connection settings, to .cache/peers/postgres.env (mode 0600).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${CDM_PEERS_DIR:-/tmp/cdm-peers}/postgres"
env_file="$root/.cache/peers/postgres.env"
port="${CDM_TEST_PG_PORT:-55432}"

bin_dir() {
    local found
    found="$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true)"
    printf '%s' "$found"
}

install() {
    if [ -z "$(bin_dir)" ]; then
        echo "postgres: installing the postgresql package" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
}

as_postgres() {
    # The server refuses to run as root; Debian's package creates the postgres user.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
    local bin
    bin="$(bin_dir)"
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
}

start() {
    install
    stop
    local bin password
    bin="$(bin_dir)"
    rm -rf "$dir"
    mkdir -p "$dir"
    password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$password" >"$dir/pwfile"
    chmod 600 "$dir/pwfile"
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 >/dev/null
    rm -f "$dir/pwfile"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" start >/dev/null
    mkdir -p "$(dirname "$env_file")"
    umask 077
    cat >"$env_file" <<ENV
PGHOST=127.0.0.1
PGPORT=$port
PGUSER=postgres
PGPASSWORD=$password
PG_BIN=$bin
ENV
    echo "$env_file"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
