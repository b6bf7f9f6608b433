#!/usr/bin/env bash
# Mosquitto for the integration tests and benchmarks, from Debian's packages: the broker (the
# stand-in for ThingsBoard's MQTT transport; tests/support/mosquitto.ts starts private ones on
# loopback with their own configuration) and mosquitto-clients (mosquitto_pub, which the device's
# cdm-telemetry publishes with).
#   scripts/peers/mosquitto.sh install   install if needed; print the broker's path
set -euo pipefail

case "${1:-}" in
    install)
        if { ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; } || ! command -v mosquitto_pub >/dev/null; then
            echo "mosquitto: installing mosquitto and mosquitto-clients" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
        fi
        command -v mosquitto || echo /usr/sbin/mosquitto
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
