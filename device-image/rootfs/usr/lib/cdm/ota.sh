# shellcheck shell=sh
# shellcheck disable=SC2034 # the settings are read by the scripts that source this
# The OTA confirmation after a RAUC update: which slot booted against the one the update
# installed (a pure decision over `rauc status` JSON), the pending-update record the RAUC
# post-install handler leaves, the status word cdm-telemetry publishes, and the result sent to
# hawkBit over DDI. Sourced by cdm-ota-confirm and the post-install handler (which define say and
# die). See docs/device.md#ota-confirmation.

OTA_DIR=${CDM_OTA_DIR:-/var/lib/cdm-ota}
# cdm-telemetry reads the same file (its CDM_OTA_STATUS_FILE) and publishes the word as ota_status.
OTA_STATUS_FILE=$OTA_DIR/status
OTA_PENDING=$OTA_DIR/pending
HAWKBIT_CONF=${CDM_HAWKBIT_CONF:-/etc/rauc-hawkbit-updater/config.conf}
RAUC=${CDM_RAUC:-rauc}

# ota_booted_slot STATUS_JSON: the name of the slot RAUC reports as booted (rootfs.0), empty when
# none is (booted from elsewhere). `.booted` is not used: it is whatever the kernel command line
# named (a bootname, or a device path), while `state` is RAUC's own match.
ota_booted_slot() {
    printf '%s' "$1" | jq -r 'first(.slots[]? | to_entries[] | select(.value.state == "booted") | .key) // empty'
}

# ota_decide STATUS_JSON PENDING_SLOT: what to do at boot, printed as one word.
#   none      no update is pending (PENDING_SLOT empty)
#   confirm   the installed slot booted: check health, mark it good, report success
#   fallback  another slot booted: the bootloader fell back; mark the installed one bad, report failure
#   unknown   RAUC reports no booted slot: leave everything as it is
# Pure: no RAUC, no files; the status is `rauc status --output-format=json` text.
ota_decide() {
    if [ -z "$2" ]; then
        echo none
        return 0
    fi
    booted=$(ota_booted_slot "$1") || return 1
    if [ -z "$booted" ]; then
        echo unknown
    elif [ "$booted" = "$2" ]; then
        echo confirm
    else
        echo fallback
    fi
}

# ota_slot_field STATUS_JSON SLOT FIELD: a slot's bootname or bundle version (FIELD: bootname|version).
ota_slot_field() {
    printf '%s' "$1" | jq -r --arg slot "$2" --arg field "$3" 'first(.slots[]? | to_entries[]
        | select(.key == $slot) | .value) | if $field == "version" then .slot_status.bundle.version
        else .[$field] end // empty'
}

# ota_set_status WORD: the word cdm-telemetry publishes as ota_status ([a-z0-9_-]), atomically.
ota_set_status() {
    mkdir -p "$OTA_DIR"
    printf '%s\n' "$1" >"$OTA_STATUS_FILE.new"
    chmod 0644 "$OTA_STATUS_FILE.new"
    mv -f "$OTA_STATUS_FILE.new" "$OTA_STATUS_FILE"
}

# ota_read KEY FILE: the value of a `key = value` or KEY=value line (INI or the pending record).
ota_read() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$2" 2>/dev/null | head -n 1 | sed 's/[[:space:]]*$//'
}

# Sets DDI_BASE (https://<server>/<tenant>/controller/v1/<target>) and DDI_TOKEN from
# rauc-hawkbit-updater's config.conf; false when there is none (an unenrolled device).
ddi_settings() {
    [ -r "$HAWKBIT_CONF" ] || return 1
    server=$(ota_read hawkbit_server "$HAWKBIT_CONF")
    tenant=$(ota_read tenant_id "$HAWKBIT_CONF")
    target=$(ota_read target_name "$HAWKBIT_CONF")
    DDI_TOKEN=$(ota_read auth_token "$HAWKBIT_CONF")
    scheme=https
    [ "$(ota_read ssl "$HAWKBIT_CONF")" != false ] || scheme=http
    [ -n "$server" ] && [ -n "$target" ] && [ -n "$DDI_TOKEN" ] || return 1
    DDI_BASE=$scheme://$server/${tenant:-DEFAULT}/controller/v1/$target
}

# ddi METHOD PATH [BODY]: one DDI request with the target token (the header through stdin, so
# the token is not on the command line). Prints the body; sets DDI_STATUS to the HTTP status
# (000 when unreachable). The server is verified against the system trust store, as
# rauc-hawkbit-updater does.
ddi() {
    url=$DDI_BASE$2
    if [ -n "${3:-}" ]; then
        set -- -X "$1" --data-binary "$3"
    else
        set -- -X "$1"
    fi
    out=$(printf 'header = "Authorization: TargetToken %s"\n' "$DDI_TOKEN" |
        curl -sS --config - --connect-timeout 15 --max-time 30 "$@" \
            -H 'Content-Type: application/json' -H 'Accept: application/json' \
            -w '\n%{http_code}' "$url" 2>/dev/null) || true
    DDI_STATUS=$(printf '%s' "$out" | tail -n 1)
    case $DDI_STATUS in [0-9][0-9][0-9]) ;; *) DDI_STATUS=000 ;; esac
    printf '%s' "$out" | sed '$d'
}

# ddi_open_action: the id of the target's open deployment action in hawkBit, empty when none.
ddi_open_action() {
    ddi GET "" | jq -r '._links.deploymentBase.href // empty' 2>/dev/null |
        sed -n 's|.*/deploymentBase/\([0-9][0-9]*\).*|\1|p'
}

# ota_report RESULT MESSAGE ACTION VERSION SLOT: tells hawkBit the outcome (RESULT success or
# failure). Always as the target's attributes (configData, merged: ota_result, sw_version,
# rauc_slot), which hawkBit accepts at any time; and as the final feedback of deployment ACTION
# when its id is known. rauc-hawkbit-updater closes the action itself right after the install
# (before the reboot), and hawkBit refuses feedback on a closed action (410): then the attributes
# carry the result. False only when hawkBit could not be reached (worth a retry).
ota_report() {
    if ! ddi_settings; then
        say "hawkBit: no $HAWKBIT_CONF; not reported"
        return 0
    fi
    data=$(jq -cn --arg r "$1" --arg v "$4" --arg s "$5" \
        '{mode: "merge", data: {ota_result: $r, sw_version: $v, rauc_slot: $s}}')
    ddi PUT /configData "$data" >/dev/null
    case $DDI_STATUS in
        2??) say "hawkBit: attributes set (ota_result=$1 sw_version=$4 rauc_slot=$5)" ;;
        000 | 5??) say "hawkBit: unreachable ($DDI_STATUS) for the attributes" && return 1 ;;
        *) say "hawkBit: attributes refused ($DDI_STATUS)" ;;
    esac
    [ -n "$3" ] || return 0
    body=$(jq -cn --arg id "$3" --arg r "$1" --arg m "$2" \
        '{id: $id, status: {execution: "closed", result: {finished: $r}, details: [$m]}}')
    ddi POST "/deploymentBase/$3/feedback" "$body" >/dev/null
    case $DDI_STATUS in
        2??) say "hawkBit: action $3 closed with $1" ;;
        410) say "hawkBit: action $3 was already closed (by rauc-hawkbit-updater at install); the attributes hold the result" ;;
        000 | 5??) say "hawkBit: unreachable ($DDI_STATUS) for action $3" && return 1 ;;
        *) say "hawkBit: feedback for action $3 refused ($DDI_STATUS)" ;;
    esac
}
