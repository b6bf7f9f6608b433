# shellcheck shell=sh
# cdm-enroll's commands: enroll (once, then apply the configs) and renew (over mutual TLS when
# due), with the certificate dates they are decided on.

# Seconds since the epoch of an OpenSSL date ("Jan  2 03:04:05 2026 GMT"), in shell arithmetic.
epoch_of() {
    # shellcheck disable=SC2086 # split into its words
    set -- $1
    case $1 in
        Jan) m=1 ;; Feb) m=2 ;; Mar) m=3 ;; Apr) m=4 ;; May) m=5 ;; Jun) m=6 ;;
        Jul) m=7 ;; Aug) m=8 ;; Sep) m=9 ;; Oct) m=10 ;; Nov) m=11 ;; Dec) m=12 ;;
        *) return 1 ;;
    esac
    d=$2 y=$4
    old_ifs=$IFS
    IFS=:
    # shellcheck disable=SC2086 # split at the colons
    set -- $3
    IFS=$old_ifs
    # Days from the civil date (H. Hinnant's algorithm), then the time of day.
    y=$((m <= 2 ? y - 1 : y))
    era=$((y / 400))
    yoe=$((y - era * 400))
    doy=$(((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1))
    doe=$((yoe * 365 + yoe / 4 - yoe / 100 + doy))
    echo $(((era * 146097 + doe - 719468) * 86400 + ${1#0} * 3600 + ${2#0} * 60 + ${3#0}))
}

cert_date() {
    openssl x509 -in "$1" -noout "-$2" | sed 's/^[^=]*=//'
}

enroll() {
    ensure_keys
    if record_valid; then
        say "already enrolled as $DEVICE_ID (certificate valid until $(cert_date "$STAGE/verify/device.crt" enddate)); not calling the bridge"
        if [ -s "$ENROLLMENT_TOKEN_FILE" ]; then say "the enrollment token in $ENROLLMENT_TOKEN_FILE was not used"; fi
    else
        if [ ! -r "$ENROLLMENT_TOKEN_FILE" ] || [ ! -s "$ENROLLMENT_TOKEN_FILE" ]; then
            die 2 "not enrolled, and no enrollment token in $ENROLLMENT_TOKEN_FILE"
        fi
        make_csr "$STAGE/device.csr"
        jq -n --rawfile csr "$STAGE/device.csr" --rawfile token "$ENROLLMENT_TOKEN_FILE" --arg wg "$WG_PUBLIC_KEY" \
            '{csr_pem: $csr, wireguard_public_key: $wg, enrollment_token: ($token | sub("^\\s+"; "") | sub("\\s+$"; ""))}' \
            >"$STAGE/request.json"
        say "enrolling $DEVICE_ID at $BRIDGE_URL"
        call_bridge "enrollment" "/devices/$DEVICE_ID/enroll" "$STAGE/request.json" check_enrollment_answer
        # The answer is kept first: every file below is made from it, so a run that stops half-way
        # is finished by the next one without the bridge (the token is used up by now).
        jq '.' "$STAGE/answer" >"$STAGE/enrollment.json"
        place "$STAGE/enrollment.json" "$RECORD" 0600
        say "enrolled: address $(field '.wireguard.address'), certificate valid until $(field '.certificate_not_after')"
    fi
    render_and_place
    if [ -e "$ENROLLMENT_TOKEN_FILE" ] && changed "$RECORD"; then
        rm -f "$ENROLLMENT_TOKEN_FILE" || say "could not delete the used token $ENROLLMENT_TOKEN_FILE"
    fi
    install_trust
    start_services
    if [ -n "$CHANGED" ]; then
        say "configured:$(printf '%s' "$CHANGED" | sed "s# $STATE_DIR/# #g; s# $ETC_DIR/# #g")"
    fi
}

renew() {
    [ -f "$RECORD" ] || die 2 "not enrolled: run cdm-enroll first"
    ensure_keys
    if ! record_valid; then
        die 3 "the certificate cannot renew itself (expired or unusable): re-enroll with a token that allows it (reenroll)"
    fi
    cert=$STAGE/verify/device.crt
    not_before=$(epoch_of "$(cert_date "$cert" startdate)")
    not_after=$(epoch_of "$(cert_date "$cert" enddate)")
    if [ -n "${CDM_RENEW_BEFORE_DAYS:-}" ]; then
        is_uint "$CDM_RENEW_BEFORE_DAYS" || die 2 "CDM_RENEW_BEFORE_DAYS takes whole days, not '$CDM_RENEW_BEFORE_DAYS'"
        before=$((CDM_RENEW_BEFORE_DAYS * 86400))
    else
        before=$(((not_after - not_before) / 3))
    fi
    if openssl x509 -in "$cert" -noout -checkend "$before" >/dev/null 2>&1; then
        say "renewal not due: the certificate is valid until $(cert_date "$cert" enddate), and renews within ${before}s of that"
        return 0
    fi
    make_csr "$STAGE/device.csr"
    jq -n --rawfile csr "$STAGE/device.csr" '{csr_pem: $csr}' >"$STAGE/request.json"
    # The bridge takes the current certificate only, presented with its chain.
    mkdir "$STAGE/client"
    write_pems "$RECORD" "$STAGE/client"
    say "renewing the certificate of $DEVICE_ID (valid until $(cert_date "$cert" enddate))"
    call_bridge "renewal" "/devices/$DEVICE_ID/renew" "$STAGE/request.json" check_renewal_answer \
        --cert "$STAGE/client/fullchain.pem" --key "$STATE_DIR/device.key"
    jq --slurpfile r "$STAGE/answer" \
        '.certificate_pem = $r[0].certificate_pem | .chain_pem = $r[0].chain_pem
         | .certificate_not_after = $r[0].certificate_not_after' "$RECORD" >"$STAGE/enrollment.json"
    why=$(check_enrollment_answer "$STAGE/enrollment.json") || die 1 "renewal: the new record does not check: $why"
    place "$STAGE/enrollment.json" "$RECORD" 0600
    render_and_place
    say "renewed: the certificate is valid until $(cert_date "$STATE_DIR/device.crt" enddate)"
    if [ "${CDM_NO_SERVICES:-0}" != 1 ] && use_systemd; then
        # The MQTT publisher presents the certificate; the others do not use it.
        systemctl try-restart cdm-telemetry.service 2>/dev/null || true
    fi
}
