# shellcheck shell=sh
# The state directory of cdm-enroll (CDM_STATE_DIR): one run at a time (its lock), a staging
# directory per run, what a run leaves to clean up, and the device's keys, made here once.

# What cleanup undoes: the lock taken, the staging directory, a backoff sleep in progress.
LOCKED=
STAGE=
SLEEPER=

# shellcheck disable=SC2317 # run by cdm-enroll's EXIT trap
cleanup() {
    if [ -n "$SLEEPER" ]; then kill "$SLEEPER" 2>/dev/null || true; fi
    if [ -n "$STAGE" ]; then rm -rf "$STAGE"; fi
    if [ -n "$LOCKED" ]; then rm -rf "$STATE_DIR/.lock"; fi
}

prepare_state() {
    mkdir -p "$STATE_DIR"
    chmod 0700 "$STATE_DIR"
    if ! mkdir "$STATE_DIR/.lock" 2>/dev/null; then
        holder=$(cat "$STATE_DIR/.lock/pid" 2>/dev/null || true)
        if [ -n "$holder" ] && kill -0 "$holder" 2>/dev/null; then
            die 1 "another cdm-enroll (pid $holder) is running"
        fi
        rm -rf "$STATE_DIR/.lock"
        mkdir "$STATE_DIR/.lock" || die 1 "cannot take the lock $STATE_DIR/.lock"
    fi
    LOCKED=1
    echo "$$" >"$STATE_DIR/.lock/pid"
    # Whatever a killed run staged is discarded; nothing staged was in place yet.
    rm -rf "$STATE_DIR"/.staging.*
    STAGE=$STATE_DIR/.staging.$$
    mkdir "$STAGE"
}

# Interruptible sleep: a SIGTERM during a backoff ends the run at once.
pause() {
    sleep "$1" &
    SLEEPER=$!
    wait "$SLEEPER" || true
    SLEEPER=
}

# Makes the device key and the WireGuard key once; existing keys are never replaced.
ensure_keys() {
    key=$STATE_DIR/device.key
    if [ ! -e "$key" ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
            -out "$STATE_DIR/.device.key.new" 2>"$STAGE/openssl.err" ||
            die 2 "could not make the device key: $(cat "$STAGE/openssl.err")"
        chmod 0600 "$STATE_DIR/.device.key.new"
        mv -f "$STATE_DIR/.device.key.new" "$key"
        say "made the device key (EC P-256) in $key"
    fi
    openssl pkey -in "$key" -noout 2>/dev/null || die 2 "$key is not a private key; refusing to replace it"
    wgkey=$STATE_DIR/wireguard.key
    if [ ! -e "$wgkey" ]; then
        wg genkey >"$STATE_DIR/.wireguard.key.new"
        chmod 0600 "$STATE_DIR/.wireguard.key.new"
        mv -f "$STATE_DIR/.wireguard.key.new" "$wgkey"
        say "made the WireGuard key in $wgkey"
    fi
    WG_PUBLIC_KEY=$(wg pubkey <"$wgkey" 2>/dev/null) || die 2 "$wgkey is not a WireGuard key; refusing to replace it"
    printf '%s\n' "$WG_PUBLIC_KEY" >"$STAGE/wireguard.pub"
    place "$STAGE/wireguard.pub" "$STATE_DIR/wireguard.pub" 0600
}

# A request for the device key: CN = the device id, nothing else (the bridge names the device).
make_csr() {
    printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n' "$DEVICE_ID" >"$STAGE/req.cnf"
    openssl req -new -sha256 -key "$STATE_DIR/device.key" -config "$STAGE/req.cnf" -out "$1" 2>"$STAGE/openssl.err" ||
        die 2 "could not make the certificate request: $(cat "$STAGE/openssl.err")"
}
