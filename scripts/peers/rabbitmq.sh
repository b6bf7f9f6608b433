#!/usr/bin/env bash
# Real RabbitMQ for the integration tests, from Debian's rabbitmq-server package, on loopback.
#   scripts/peers/rabbitmq.sh start   install if needed, start a throwaway node, print its env file
#   scripts/peers/rabbitmq.sh stop    stop it
# The node keeps its data in /tmp/cdm-peers/rabbitmq (removed on start), listens for AMQP on
# 127.0.0.1:${CDM_TEST_AMQP_PORT:-55672} and for the management API on the next port. It boots
# with the definitions the provider stack deploys, rendered by components/rabbitmq/definitions.ts
# (vhost cdm-metrics, the cdm.telemetry exchange and the telemetry gate's intake queue, the
# cdm.telemetry.admitted exchange and Telegraf's queue, the limits policy of both quorum queues,
# the cdm-bridge, telemetry-gate and telegraf users with their permissions, password hashes
# only), with two test changes: each queue holds at most 100 messages, so overflow can be
# exercised in a second, and a test-only administrator (`cdm-test-admin`, every permission on
# cdm-metrics).
# Passwords are generated per run and written, with the ports, to .cache/peers/rabbitmq.env
# (mode 0600): RABBITMQ_USERNAME/PASSWORD are the test administrator, RABBITMQ_BRIDGE_* and
# RABBITMQ_GATE_* and RABBITMQ_TELEGRAF_* the platform's users. AMQPS listens on the port after those (AMQPS_PORT)
# with the TLS and authentication settings of the deployed configuration (rabbitmq.ts's
# rabbitmqConf) and a throwaway chain like the platform's: a root, an intermediate, and a
# server certificate for localhost issued by the intermediate (the root in RABBITMQ_CA_FILE).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${CDM_PEERS_DIR:-/tmp/cdm-peers}/rabbitmq"
env_file="$root/.cache/peers/rabbitmq.env"
amqp_port="${CDM_TEST_AMQP_PORT:-55672}"
management_port="$((amqp_port + 1))"
dist_port="$((amqp_port + 2))"
amqps_port="$((amqp_port + 3))"
queue_max_length=100
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

# A root, an intermediate below it and a localhost server certificate below that, in $1.
tls_chain() {
    mkdir -p "$1"
    (
        cd "$1"
        key() { openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$1" -out "$2" 2>/dev/null; }
        key P-384 root.key
        key P-384 ica.key
        key P-256 tls.key
        openssl req -new -x509 -key root.key -subj "/CN=cdm test root" -days 2 -out root.crt \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -new -key ica.key -subj "/CN=cdm test intermediate" |
            openssl x509 -req -CA root.crt -CAkey root.key -set_serial 2 -days 2 -out ica.crt \
                -extfile <(printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:1" \
                    "keyUsage=critical,keyCertSign,cRLSign") 2>/dev/null
        openssl req -new -key tls.key -subj "/CN=localhost" |
            openssl x509 -req -CA ica.crt -CAkey ica.key -set_serial 3 -days 2 -out tls.crt \
                -extfile <(printf '%s\n' "subjectAltName=DNS:localhost" \
                    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth") 2>/dev/null
        cat ica.crt root.crt >ca.crt
    )
}

start() {
    install
    stop
    rm -rf "$dir"
    mkdir -p "$dir/mnesia" "$dir/log"
    local password bridge_password gate_password telegraf_password
    password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    bridge_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    gate_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    telegraf_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    node_env
    echo '[rabbitmq_management].' >"$dir/enabled_plugins"
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp_port
management.tcp.ip = 127.0.0.1
management.tcp.port = $management_port
definitions.import_backend = local_filesystem
definitions.local.path = $dir/definitions.json
loopback_users = none
listeners.ssl.1 = 127.0.0.1:$amqps_port
CONF
    umask 077
    tls_chain "$dir/tls"
    # The deployed TLS and SASL settings, with the certificate files where this node has them.
    # shellcheck disable=SC2016 # TypeScript, not shell
    (cd "$root" && node_modules/.bin/tsx -e '
import { rabbitmqConf, rabbitmqPaths } from "./components/rabbitmq/rabbitmq";
for (const line of rabbitmqConf().split("\n")) {
    if (/^(ssl_options|auth_mechanisms)\./.test(line)) {
        console.log(line.replace(rabbitmqPaths.tls, process.argv[1]));
    }
}
' "$dir/tls") >>"$dir/rabbitmq.conf"
    # The passwords reach the renderer through its environment, never its command line.
    # shellcheck disable=SC2016 # TypeScript, not shell
    (cd "$root" && ADMIN_PASSWORD="$password" BRIDGE_PASSWORD="$bridge_password" \
        GATE_PASSWORD="$gate_password" TELEGRAF_PASSWORD="$telegraf_password" QUEUE_MAX_LENGTH="$queue_max_length" \
        node_modules/.bin/tsx -e '
import * as d from "./components/rabbitmq/definitions";
import { metricsVhost } from "./runtime/shared/onboarding";
const env = process.env as Record<string, string>;
const platform = d.metricsBrokerDefinitions(
    { bridge: env.BRIDGE_PASSWORD, gate: env.GATE_PASSWORD, telegraf: env.TELEGRAF_PASSWORD },
    { ...d.telegrafQueueLimits, maxLength: Number(env.QUEUE_MAX_LENGTH) },
);
const admin = "cdm-test-admin";
process.stdout.write(d.renderDefinitions({
    ...platform,
    users: [...platform.users, d.definitionsUser(admin, env.ADMIN_PASSWORD, ["administrator"])],
    permissions: [
        ...platform.permissions,
        { user: admin, vhost: metricsVhost, configure: ".*", write: ".*", read: ".*" },
    ],
}));
') >"$dir/definitions.json"
    "$bin/rabbitmq-server" >"$dir/log/console.log" 2>&1 &
    for _ in $(seq 1 120); do
        if curl -fsS -u "cdm-test-admin:$password" "http://127.0.0.1:$management_port/api/overview" >/dev/null 2>&1; then
            break
        fi
        sleep 0.5
    done
    curl -fsS -u "cdm-test-admin:$password" "http://127.0.0.1:$management_port/api/overview" >/dev/null || {
        echo "rabbitmq: the node did not start; see $dir/log" >&2
        exit 1
    }
    mkdir -p "$(dirname "$env_file")"
    cat >"$env_file" <<ENV
AMQP_PORT=$amqp_port
AMQPS_PORT=$amqps_port
RABBITMQ_CA_FILE=$dir/tls/root.crt
RABBITMQ_MGMT_URL=http://127.0.0.1:$management_port
RABBITMQ_USERNAME=cdm-test-admin
RABBITMQ_PASSWORD=$password
RABBITMQ_BRIDGE_USERNAME=cdm-bridge
RABBITMQ_BRIDGE_PASSWORD=$bridge_password
RABBITMQ_GATE_USERNAME=telemetry-gate
RABBITMQ_GATE_PASSWORD=$gate_password
RABBITMQ_TELEGRAF_USERNAME=telegraf
RABBITMQ_TELEGRAF_PASSWORD=$telegraf_password
TELEGRAF_QUEUE_MAX_LENGTH=$queue_max_length
ENV
    echo "$env_file"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
