#!/usr/bin/env bash
# Telegraf for the integration tests, built from the Go module proxy with only the plugins the
# platform's two configurations use (Telegraf's `custom` build tags, docs/CUSTOMIZATION.md
# upstream), and cached, so only the first run on a machine pays for the build (64 s on two
# cores with empty Go module and build caches; about 30 s with warm ones).
#   scripts/peers/telegraf.sh install   build if needed; print the binary's path
#   scripts/peers/telegraf.sh path      print that path without building
# The plugins: the provider's amqp_consumer with the json parser, influxdb_v2 and health
# outputs; the device's cpu, mem, disk and net inputs; outputs.file with the influx serializer,
# which the tests put in place of InfluxDB to read exactly what Telegraf would write.
set -euo pipefail

version="${CDM_TELEGRAF_VERSION:-v1.39.2}"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/telegraf-$version"
tags="custom,inputs.amqp_consumer,inputs.cpu,inputs.mem,inputs.disk,inputs.net"
tags="$tags,outputs.influxdb_v2,outputs.health,outputs.file,parsers.json,serializers.influx"

case "${1:-}" in
    install)
        if [ ! -x "$cache/telegraf" ]; then
            echo "telegraf: building github.com/influxdata/telegraf@$version with $tags (cached in $cache)" >&2
            mkdir -p "$cache"
            # CGO off: a static binary, and none of these plugins needs C.
            CGO_ENABLED=0 GOBIN="$cache" GOFLAGS=-buildvcs=false go install -tags "$tags" \
                -ldflags "-X github.com/influxdata/telegraf/internal.Version=${version#v}" \
                "github.com/influxdata/telegraf/cmd/telegraf@$version" >&2
        fi
        echo "$cache/telegraf"
        ;;
    path) echo "$cache/telegraf" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
