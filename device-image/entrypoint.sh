#!/bin/sh
# The simulated device's entrypoint (device-image/Dockerfile): no systemd, so this does what the
# units do on a device. Writes enroll.conf and the enrollment token from the environment, enrolls
# (cdm-enroll retries with backoff until the bridge answers; it brings WireGuard up itself),
# starts ttyd on the WireGuard address when the image has it, then runs the MQTT state publisher
# in the foreground, restarting it after a failure (as cdm-telemetry.service does).
#
# Environment: BRIDGE_URL (required on the first start), DEVICE_ID (default: the host name),
# ENROLLMENT_TOKEN (the one-time token; needed until enrolled), CDM_TELEMETRY_INTERVAL (60),
# and the agent's CDM_* variables (e.g. CDM_NO_SERVICES=1 to run without WireGuard).

set -eu
PROG=cdm-sim-device
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

conf=/etc/cdm/enroll.conf
if [ -n "${BRIDGE_URL:-}" ]; then
    {
        echo "# Written by $PROG from its environment."
        echo "BRIDGE_URL=$BRIDGE_URL"
        [ -z "${DEVICE_ID:-}" ] || echo "DEVICE_ID=$DEVICE_ID"
    } >"$conf"
fi
if [ -n "${ENROLLMENT_TOKEN:-}" ] && [ ! -f /var/lib/cdm/enrollment.json ]; then
    (umask 077 && printf '%s\n' "$ENROLLMENT_TOKEN" >/etc/cdm/enrollment-token)
fi

status=0
cdm-enroll enroll || status=$?
[ "$status" = 0 ] || {
    say "cdm-enroll stopped with $status (2: bad settings, 3: refused by the bridge)"
    exit "$status"
}

if command -v ttyd >/dev/null 2>&1 && [ -r /etc/cdm/ttyd.env ] && [ "${CDM_NO_SERVICES:-0}" != 1 ]; then
    # shellcheck source=/dev/null # written by cdm-enroll: KEY='value' lines
    . /etc/cdm/ttyd.env
    say "ttyd on $TTYD_ADDRESS:$TTYD_PORT as cdm-terminal"
    setpriv --reuid cdm-terminal --regid cdm-terminal --init-groups --no-new-privs --reset-env \
        ttyd --interface "$TTYD_ADDRESS" --port "$TTYD_PORT" --writable \
        --credential "$TTYD_CREDENTIAL" --max-clients 4 /bin/sh -l &
fi

while :; do
    status=0
    cdm-telemetry || status=$?
    [ "$status" != 2 ] || exit 2
    say "cdm-telemetry stopped with $status; restarting in 30 s"
    sleep 30
done
