# shellcheck shell=sh
# Calls to the tenant bridge: a POST over HTTPS (trusting the platform root only), retried with
# exponential backoff and jitter, honouring Retry-After, until an answer passes its check.

# The bridge's error answer as ": <error>: <message>", or nothing when it is not one.
error_detail() {
    jq -r 'if type == "object" and (.error | type) == "string"
           then ": \(.error)\(if (.message | type) == "string" then ": \(.message)" else "" end)"
           else empty end' "$1" 2>/dev/null | head -n 1 | tr -d '\000-\010\013-\037\177' || true
}

random16() {
    od -An -N2 -tu2 /dev/urandom | tr -d ' \n'
}

# The delay before attempt $1 + 1: base * 2^(attempt-1), capped, minus up to half of it at random.
backoff() {
    delay=$RETRY_BASE
    i=1
    while [ "$i" -lt "$1" ] && [ "$delay" -lt "$RETRY_MAX" ]; do
        delay=$((delay * 2))
        i=$((i + 1))
    done
    [ "$delay" -le "$RETRY_MAX" ] || delay=$RETRY_MAX
    echo $((delay - $(random16) % (delay / 2 + 1)))
}

# Retry-After in seconds from the last answer's headers, or nothing.
retry_after() {
    sed -n 's/^[Rr][Ee][Tt][Rr][Yy]-[Aa][Ff][Tt][Ee][Rr]:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$STAGE/headers" 2>/dev/null |
        tail -n 1
}

# call_bridge WHAT PATH BODY CHECK [curl options...]
# POSTs BODY to the bridge until it gives an answer CHECK accepts (left in $STAGE/answer).
# Retried with backoff: network errors, timeouts, 408, 429, 5xx and answers CHECK refuses
# (malformed or truncated JSON, a missing field). Any other status stops the run (exit 3).
call_bridge() {
    what=$1 path=$2 body=$3 check=$4
    shift 4
    attempt=0
    while :; do
        attempt=$((attempt + 1))
        rm -f "$STAGE/answer" "$STAGE/headers" "$STAGE/curl.err"
        rc=0
        status=$(curl --silent --show-error --cacert "$ROOT_CA_FILE" \
            --connect-timeout "$CONNECT_TIMEOUT" --max-time "$HTTP_TIMEOUT" \
            -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' \
            --data-binary "@$body" -D "$STAGE/headers" -o "$STAGE/answer" -w '%{http_code}' \
            "$@" "$BRIDGE_URL$path" 2>"$STAGE/curl.err") || rc=$?
        wait_at_least=0
        if [ "$rc" -ne 0 ]; then
            reason="$(sed -n '$p' "$STAGE/curl.err") (curl exit $rc)"
        else
            case $status in
                2??)
                    if problem=$("$check" "$STAGE/answer"); then
                        say "$what: the bridge answered HTTP $status (attempt $attempt)"
                        return 0
                    fi
                    reason="HTTP $status with a malformed answer: $problem"
                    ;;
                408 | 429 | 5??)
                    reason="HTTP $status$(error_detail "$STAGE/answer")"
                    wait_at_least=$(retry_after)
                    ;;
                *)
                    die 3 "$what refused by the bridge (HTTP $status$(error_detail "$STAGE/answer")); not retrying"
                    ;;
            esac
        fi
        if [ "$MAX_ATTEMPTS" -gt 0 ] && [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
            die 1 "$what: giving up after $attempt attempts; the last: $reason"
        fi
        delay=$(backoff "$attempt")
        if [ -n "$wait_at_least" ] && [ "$wait_at_least" -gt "$delay" ]; then
            delay=$wait_at_least
            [ "$delay" -le "$RETRY_MAX" ] || delay=$RETRY_MAX
        fi
        say "$what: attempt $attempt failed: $reason; retrying in ${delay}s"
        pause "$delay"
    done
}
