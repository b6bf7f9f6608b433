# shellcheck shell=sh
# The enrollment record (enrollment.json, the bridge's answer as kept) and every file made from
# it: certificates, WireGuard, rauc-hawkbit-updater, MQTT, Telegraf and ttyd settings, each
# written into the staging directory first and then moved into place atomically.

RECORD=$STATE_DIR/enrollment.json
# The paths this run put in place (space-separated): what changed, for the services and the log.
CHANGED=

# True when the stored enrollment is this device's, well-formed, and its certificate is this
# key's, verifies to the root, and has not expired.
record_valid() {
    [ -f "$RECORD" ] || return 1
    why=$(check_enrollment_answer "$RECORD") || {
        say "the stored enrollment is not usable: $why"
        return 1
    }
    openssl x509 -in "$STAGE/verify/device.crt" -noout -checkend 0 >/dev/null 2>&1 || {
        say "the certificate expired on $(cert_date "$STAGE/verify/device.crt" enddate)"
        return 1
    }
}

# place SRC DEST MODE: puts SRC at DEST atomically (a copy beside DEST, then rename), unless DEST
# already has that content; either way DEST ends with MODE.
place() {
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        chmod "$3" "$2"
        return 0
    fi
    tmp=$(dirname "$2")/.$(basename "$2").cdm-new
    cp "$1" "$tmp"
    chmod "$3" "$tmp"
    mv -f "$tmp" "$2"
    CHANGED="$CHANGED $2"
}

# True when this run put path $1 in place.
changed() {
    case " $CHANGED " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

ensure_dir() {
    if [ ! -d "$1" ]; then
        mkdir -p "$1"
        chmod "$2" "$1"
    fi
}

field() {
    jq -r "$1" "$RECORD"
}

# Writes every file the device needs from enrollment.json into $STAGE/out, then moves each into
# place. Nothing is moved before everything has been written.
render_and_place() {
    out=$STAGE/out
    rm -rf "$out"
    mkdir -p "$out"
    write_pems "$RECORD" "$out"

    address=$(field '.wireguard.address')
    device_address=${address%/*}
    hawkbit_url=$(field '.hawkbit.url')
    hawkbit_server=${hawkbit_url#*://}
    hawkbit_server=${hawkbit_server%/}
    case $hawkbit_url in https://*) hawkbit_ssl=true ;; *) hawkbit_ssl=false ;; esac

    {
        echo "# The tunnel to the tenant's VPN server (wg-quick format); written by cdm-enroll."
        echo "[Interface]"
        echo "Address = $address"
        echo "PrivateKey = $(cat "$STATE_DIR/wireguard.key")"
        echo
        echo "[Peer]"
        echo "PublicKey = $(field '.wireguard.server_public_key')"
        echo "Endpoint = $(field '.wireguard.endpoint')"
        echo "AllowedIPs = $(field '.wireguard.allowed_ips | join(", ")')"
        echo "PersistentKeepalive = $(field '.wireguard.persistent_keepalive')"
    } >"$out/wg.conf"

    {
        echo "# rauc-hawkbit-updater's configuration; written by cdm-enroll. The server's certificate"
        echo "# is checked against the system trust store, which holds the platform root."
        echo "[client]"
        echo "hawkbit_server = $hawkbit_server"
        echo "ssl = $hawkbit_ssl"
        echo "ssl_verify = true"
        echo "tenant_id = $(field '.hawkbit.tenant')"
        echo "target_name = $(field '.hawkbit.controller_id')"
        echo "auth_token = $(field '.hawkbit.target_token')"
        echo "bundle_download_location = $BUNDLE_DOWNLOAD_LOCATION"
        echo "# Reboot into the new slot once RAUC has installed it; cdm-ota-confirm checks it after."
        echo "post_update_reboot = true"
        echo
        echo "[device]"
        echo "product = $DEVICE_PRODUCT"
        echo "serial = $DEVICE_ID"
    } >"$out/config.conf"

    {
        echo "# The MQTT state publisher's settings (mutual TLS); written by cdm-enroll."
        echo "MQTT_URL='$(field '.mqtt.url')'"
        echo "MQTT_TOPIC='$(field '.mqtt.telemetry_topic')'"
        echo "MQTT_CLIENT_ID='$DEVICE_ID'"
        echo "MQTT_CERT_FILE='$STATE_DIR/fullchain.pem'"
        echo "MQTT_KEY_FILE='$STATE_DIR/device.key'"
        echo "MQTT_CA_FILE='$STATE_DIR/root-ca.pem'"
    } >"$out/mqtt.conf"

    {
        echo "# Telegraf's InfluxDB v2 output, as environment for its unit; written by cdm-enroll."
        echo "CDM_DEVICE_ID='$DEVICE_ID'"
        echo "CDM_INFLUX_URL='$(field '.influxdb.url')'"
        echo "CDM_INFLUX_ORG='$(field '.influxdb.org')'"
        echo "CDM_INFLUX_BUCKET='$(field '.influxdb.bucket')'"
        echo "CDM_INFLUX_TOKEN='$(field '.influxdb.token')'"
    } >"$out/telegraf.env"

    {
        echo "# ttyd: bound to the device's VPN address only, with the credential the terminal proxy"
        echo "# presents (ttyd -i \"\$TTYD_ADDRESS\" -p \"\$TTYD_PORT\" -c \"\$TTYD_CREDENTIAL\"); written by cdm-enroll."
        echo "TTYD_ADDRESS='$device_address'"
        echo "TTYD_PORT='$(field '.terminal.port')'"
        echo "TTYD_CREDENTIAL='$(field '.terminal.username'):$(field '.terminal.password')'"
    } >"$out/ttyd.env"

    ensure_dir "$ETC_DIR/wireguard" 0700
    ensure_dir "$ETC_DIR/rauc-hawkbit-updater" 0755
    ensure_dir "$ETC_DIR/cdm" 0755
    for f in root-ca.pem chain.pem device.crt fullchain.pem; do
        place "$out/$f" "$STATE_DIR/$f" 0600
    done
    place "$out/wg.conf" "$ETC_DIR/wireguard/$WG_IF.conf" 0600
    # Upstream's rauc-hawkbit-updater.service runs as user rauc-hawkbit: it reads its config (with
    # the target token) through that group when the image has it; root only otherwise.
    updater_group=${CDM_UPDATER_GROUP:-rauc-hawkbit}
    if grep -q "^$updater_group:" /etc/group 2>/dev/null; then
        place "$out/config.conf" "$ETC_DIR/rauc-hawkbit-updater/config.conf" 0640
        chgrp "$updater_group" "$ETC_DIR/rauc-hawkbit-updater/config.conf"
    else
        place "$out/config.conf" "$ETC_DIR/rauc-hawkbit-updater/config.conf" 0600
    fi
    place "$out/mqtt.conf" "$ETC_DIR/cdm/mqtt.conf" 0644
    place "$out/telegraf.env" "$ETC_DIR/cdm/telegraf.env" 0600
    place "$out/ttyd.env" "$ETC_DIR/cdm/ttyd.env" 0600
}
