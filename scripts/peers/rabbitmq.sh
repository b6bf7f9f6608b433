#!/usr/bin/env bash
# Real RabbitMQ for the integration tests, from Debian's rabbitmq-server package, on loopback.
#   scripts/peers/rabbitmq.sh start   install if needed, start a throwaway node, print its env file
#   scripts/peers/rabbitmq.sh stop    stop it
# The node keeps its data in /tmp/cdm-peers/rabbitmq (removed on start), listens for AMQP on
# 127.0.0.1:${CDM_TEST_AMQP_PORT:-55672} and for the management API on the next port. It starts
# with the platform's definitions as the provider stack declares them (vhost cdm-metrics, the
# cdm.telemetry topic exchange) and an administrator whose password is generated per run and
# written, with the ports, to .cache/peers/rabbitmq.env (mode 0600).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${CDM_PEERS_DIR:-/tmp/cdm-peers}/rabbitmq"
env_file="$root/.cache/peers/rabbitmq.env"
amqp_port="${CDM_TEST_AMQP_PORT:-55672}"
management_port="$((amqp_port + 1))"
dist_port="$((amqp_port + 2))"
bin=/usr/lib/rabbitmq/bin

install() {
    if [ ! -x "$bin/rabbitmq-server" ]; then
        echo "rabbitmq: installing the rabbitmq-server package" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    fi
}

node_env() {
    export HOME="$dir" RABBITMQ_NODENAME="cdm-test@localhost" RABBITMQ_MNESIA_BASE="$dir/mnesia" \
        RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_DIST_PORT="$dist_port" \
        RABBITMQ_PID_FILE="$dir/rabbit.pid"
}

stop() {
    if [ -f "$dir/rabbit.pid" ]; then
        node_env
        "$bin/rabbitmqctl" -q stop >/dev/null 2>&1 || kill "$(cat "$dir/rabbit.pid")" 2>/dev/null || true
    fi
}

start() {
    install
    stop
    rm -rf "$dir"
    mkdir -p "$dir/mnesia" "$dir/log"
    local password
    password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    node_env
    echo '[rabbitmq_management].' >"$dir/enabled_plugins"
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp_port
management.tcp.ip = 127.0.0.1
management.tcp.port = $management_port
load_definitions = $dir/definitions.json
loopback_users = none
CONF
    cat >"$dir/definitions.json" <<JSON
{
  "users": [{ "name": "admin", "password": "$password", "tags": ["administrator"] }],
  "vhosts": [{ "name": "cdm-metrics" }],
  "permissions": [{ "user": "admin", "vhost": "cdm-metrics", "configure": ".*", "write": ".*", "read": ".*" }],
  "exchanges": [{ "name": "cdm.telemetry", "vhost": "cdm-metrics", "type": "topic", "durable": true,
                  "auto_delete": false, "internal": false, "arguments": {} }]
}
JSON
    chmod 600 "$dir/definitions.json"
    "$bin/rabbitmq-server" >"$dir/log/console.log" 2>&1 &
    for _ in $(seq 1 120); do
        if curl -fsS -u "admin:$password" "http://127.0.0.1:$management_port/api/overview" >/dev/null 2>&1; then
            break
        fi
        sleep 0.5
    done
    curl -fsS -u "admin:$password" "http://127.0.0.1:$management_port/api/overview" >/dev/null || {
        echo "rabbitmq: the node did not start; see $dir/log" >&2
        exit 1
    }
    mkdir -p "$(dirname "$env_file")"
    umask 077
    cat >"$env_file" <<ENV
AMQP_PORT=$amqp_port
RABBITMQ_MGMT_URL=http://127.0.0.1:$management_port
RABBITMQ_USERNAME=admin
RABBITMQ_PASSWORD=$password
ENV
    echo "$env_file"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
