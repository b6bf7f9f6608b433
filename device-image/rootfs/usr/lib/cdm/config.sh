# shellcheck shell=sh
# shellcheck disable=SC2034 # the settings are read by the other libraries
#
# The settings of cdm-enroll: their defaults, reading and checking /etc/cdm/enroll.conf and the
# CDM_* environment, and the tools the agent requires.
#
# Configuration: /etc/cdm/enroll.conf (KEY=VALUE lines, read, never executed):
#   BRIDGE_URL                 the tenant bridge, https://… (required)
#   DEVICE_ID                  this device's id (default: the host name): a lower-case DNS label
#   ROOT_CA_FILE               the platform root shipped in the image, the only CA trusted for the
#                              bridge (default /usr/share/cdm/platform-root.pem)
#   ENROLLMENT_TOKEN_FILE      the one-time enrollment token (default /etc/cdm/enrollment-token);
#                              deleted once enrollment has succeeded
#   DEVICE_PRODUCT             rauc-hawkbit-updater's [device] product attribute (cdm-device)
#   BUNDLE_DOWNLOAD_LOCATION   where rauc-hawkbit-updater downloads bundles (/tmp/bundle.raucb)
#   SERVICES                   systemd units enabled and started after enrollment
#                              (wg-quick@<if>.service cdm-renew.timer rauc-hawkbit-updater.service
#                              telegraf.service cdm-telemetry.service cdm-ttyd.service); missing ones
#                              are skipped
# Environment (for the units and for tests):
#   CDM_ENROLL_CONF            the configuration file (<CDM_ETC_DIR>/cdm/enroll.conf)
#   CDM_STATE_DIR              keys, certificates, enrollment.json (/var/lib/cdm)
#   CDM_ETC_DIR                the root of the written configs (/etc)
#   CDM_WG_INTERFACE           the WireGuard interface, and so <CDM_ETC_DIR>/wireguard/<it>.conf (wg0)
#   CDM_RENEW_BEFORE_DAYS      renew when the certificate expires within this many days
#                              (default: a third of its lifetime)
#   CDM_RETRY_BASE_SECONDS     first retry delay (5); doubles per attempt, with jitter
#   CDM_RETRY_MAX_SECONDS      the delay's cap (300)
#   CDM_MAX_ATTEMPTS           give up (exit 1) after this many attempts; 0 = never (0)
#   CDM_CONNECT_TIMEOUT        seconds to connect (15)
#   CDM_HTTP_TIMEOUT           seconds for a whole request (60)
#   CDM_NO_TRUST_STORE=1       do not touch the system trust store
#   CDM_NO_SERVICES=1          do not bring WireGuard up nor start services
#   CDM_NO_SYSTEMD=1           bring WireGuard up directly even where systemd runs
#   CDM_WG_QUICK=0             bring WireGuard up with ip and wg even where wg-quick exists
#   CDM_LIB_DIR                these libraries (see cdm-enroll)

ETC_DIR=${CDM_ETC_DIR:-/etc}
STATE_DIR=${CDM_STATE_DIR:-/var/lib/cdm}
CONF_FILE=${CDM_ENROLL_CONF:-$ETC_DIR/cdm/enroll.conf}
WG_IF=${CDM_WG_INTERFACE:-wg0}
RETRY_BASE=${CDM_RETRY_BASE_SECONDS:-5}
RETRY_MAX=${CDM_RETRY_MAX_SECONDS:-300}
MAX_ATTEMPTS=${CDM_MAX_ATTEMPTS:-0}
CONNECT_TIMEOUT=${CDM_CONNECT_TIMEOUT:-15}
HTTP_TIMEOUT=${CDM_HTTP_TIMEOUT:-60}

BRIDGE_URL=
DEVICE_ID=
ROOT_CA_FILE=/usr/share/cdm/platform-root.pem
ENROLLMENT_TOKEN_FILE=$ETC_DIR/cdm/enrollment-token
DEVICE_PRODUCT=cdm-device
BUNDLE_DOWNLOAD_LOCATION=/tmp/bundle.raucb
SERVICES="wg-quick@$WG_IF.service cdm-renew.timer rauc-hawkbit-updater.service telegraf.service cdm-telemetry.service cdm-ttyd.service"

is_uint() {
    case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

# Reads enroll.conf: KEY=VALUE lines, optionally quoted; comments and blank lines are skipped.
load_config() {
    [ -r "$CONF_FILE" ] || die 2 "cannot read the configuration $CONF_FILE"
    lineno=0
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        trimmed=$(printf '%s' "$line" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
        case $trimmed in '' | '#'*) continue ;; *=*) ;; *) die 2 "$CONF_FILE:$lineno: not KEY=VALUE" ;; esac
        key=${trimmed%%=*}
        value=${trimmed#*=}
        case $value in
            \"*\")
                value=${value#\"}
                value=${value%\"}
                ;;
            \'*\')
                value=${value#\'}
                value=${value%\'}
                ;;
        esac
        case $key in
            BRIDGE_URL) BRIDGE_URL=$value ;;
            DEVICE_ID) DEVICE_ID=$value ;;
            ROOT_CA_FILE) ROOT_CA_FILE=$value ;;
            ENROLLMENT_TOKEN_FILE) ENROLLMENT_TOKEN_FILE=$value ;;
            DEVICE_PRODUCT) DEVICE_PRODUCT=$value ;;
            BUNDLE_DOWNLOAD_LOCATION) BUNDLE_DOWNLOAD_LOCATION=$value ;;
            SERVICES) SERVICES=$value ;;
            *) die 2 "$CONF_FILE:$lineno: unknown setting $key" ;;
        esac
    done <"$CONF_FILE"

    BRIDGE_URL=${BRIDGE_URL%/}
    case $BRIDGE_URL in
        https://?*) ;;
        '') die 2 "BRIDGE_URL is not set in $CONF_FILE" ;;
        *) die 2 "BRIDGE_URL must be an https:// URL, not $BRIDGE_URL" ;;
    esac
    [ -n "$DEVICE_ID" ] || DEVICE_ID=$(uname -n)
    case $DEVICE_ID in
        *[!a-z0-9-]* | -* | *-) die 2 "DEVICE_ID must be a lower-case DNS label (a-z, 0-9, -), not '$DEVICE_ID'" ;;
    esac
    if [ "${#DEVICE_ID}" -lt 3 ] || [ "${#DEVICE_ID}" -gt 63 ]; then
        die 2 "DEVICE_ID must have 3 to 63 characters, not '$DEVICE_ID'"
    fi
    [ -r "$ROOT_CA_FILE" ] || die 2 "cannot read the platform root ROOT_CA_FILE=$ROOT_CA_FILE"
    openssl x509 -in "$ROOT_CA_FILE" -noout 2>/dev/null || die 2 "ROOT_CA_FILE=$ROOT_CA_FILE is not a PEM certificate"
    safe_value "DEVICE_PRODUCT" "$DEVICE_PRODUCT"
    safe_value "BUNDLE_DOWNLOAD_LOCATION" "$BUNDLE_DOWNLOAD_LOCATION"
    case $WG_IF in *[!A-Za-z0-9_.=+-]* | '') die 2 "CDM_WG_INTERFACE is not an interface name: $WG_IF" ;; esac
    for n in "$RETRY_BASE" "$RETRY_MAX" "$MAX_ATTEMPTS" "$CONNECT_TIMEOUT" "$HTTP_TIMEOUT"; do
        is_uint "$n" || die 2 "the CDM_RETRY_*, CDM_MAX_ATTEMPTS and CDM_*_TIMEOUT variables take whole numbers, not '$n'"
    done
    [ "$RETRY_BASE" -ge 1 ] || RETRY_BASE=1
    [ "$RETRY_MAX" -ge "$RETRY_BASE" ] || RETRY_MAX=$RETRY_BASE
}

# Values that go into INI and environment files: one printable line without quotes or shell
# metacharacters.
safe_value() {
    case $2 in
        '' | *[!A-Za-z0-9._/:@+=,~-]*) die 2 "$1 may hold letters, digits and ._/:@+=,~- only, not '$2'" ;;
    esac
}

require_tools() {
    for tool in openssl curl jq wg od cmp sed; do
        command -v "$tool" >/dev/null 2>&1 || die 2 "$tool is required (see docs/device.md)"
    done
}
