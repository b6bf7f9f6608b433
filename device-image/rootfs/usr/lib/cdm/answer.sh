# shellcheck shell=sh
# shellcheck disable=SC2016 # the $ in the jq programs is jq's, not the shell's
#
# Checking the bridge's answers before anything is written: with jq, every field the device
# needs is present and of the right type; with openssl, the certificate is this device's key's
# and name's and verifies to the shipped platform root through the answer's chain.

# jq definitions shared by the checks. Strings that go into config files are single printable
# lines without quotes, `$`, backquote or backslash (code points 34, 36, 39, 92, 96).
JQ_DEFS='
def ok(f): [try f catch false] == [true];
def line: type == "string" and length > 0 and length <= 4096 and (explode | all(.[]; . >= 32 and . != 127));
def plain: line and (explode | all(.[]; . != 34 and . != 36 and . != 39 and . != 92 and . != 96));
def pem: type == "string" and startswith("-----BEGIN CERTIFICATE-----\n")
    and (sub("\n+$"; "") | endswith("\n-----END CERTIFICATE-----"))
    and ([match("-----BEGIN "; "g")] | length) == 1
    and (explode | all(.[]; . >= 32 or . == 10 or . == 13));
def pems: type == "array" and length >= 1 and length <= 8 and all(.[]; pem);
def ipv4: type == "string" and test("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$") and (split(".") | all(.[]; tonumber <= 255));
def cidr4: type == "string" and (split("/") | length == 2 and (.[0] | ipv4)
    and (.[1] | test("^[0-9]{1,2}$")) and (.[1] | tonumber) <= 32);
def integer($lo; $hi): type == "number" and . == floor and . >= $lo and . <= $hi;
def wgkey: type == "string" and test("^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$");
def hostport: test("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$");
def url($schemes): plain and test("^(" + $schemes + ")://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$");
def urlpath($schemes): plain and test("^(" + $schemes + ")://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$");
def token: type == "string" and test("^[A-Za-z0-9._~+/=-]{8,1024}$");
def name: type == "string" and test("^[A-Za-z0-9._-]{1,128}$");
def report(checks): checks | map(select(.[1] != true) | .[0]) | join(", ");
def single: if length == 1 then .[0] else error("exactly one JSON value expected, got \(length)") end;
'

# run_checks FILE PROGRAM: prints why FILE is not acceptable and fails, or succeeds silently.
run_checks() {
    if ! out=$(jq -r -s --arg id "$DEVICE_ID" "$JQ_DEFS single as \$a | $2" "$1" 2>&1); then
        printf 'not one JSON object (truncated?): %s' "$(printf '%s' "$out" | head -n 1)"
        return 1
    fi
    if [ -n "$out" ]; then
        printf 'missing or invalid: %s' "$out"
        return 1
    fi
}

ENROLL_CHECKS='report([
  ["device_id", ok($a.device_id == $id)],
  ["certificate_pem", ok($a.certificate_pem | pem)],
  ["chain_pem", ok($a.chain_pem | pems)],
  ["root_ca_pem", ok($a.root_ca_pem | pem)],
  ["certificate_not_after", ok($a.certificate_not_after | plain)],
  ["wireguard.address", ok($a.wireguard.address | cidr4 and endswith("/32"))],
  ["wireguard.server_public_key", ok($a.wireguard.server_public_key | wgkey)],
  ["wireguard.endpoint", ok($a.wireguard.endpoint | plain and hostport and test(":[0-9]+$"))],
  ["wireguard.allowed_ips", ok($a.wireguard.allowed_ips | type == "array" and length >= 1 and all(.[]; cidr4))],
  ["wireguard.persistent_keepalive", ok($a.wireguard.persistent_keepalive | integer(0; 65535))],
  ["mqtt.url", ok($a.mqtt.url | url("mqtts"))],
  ["mqtt.telemetry_topic", ok($a.mqtt.telemetry_topic | plain and test("^[A-Za-z0-9._/-]+$"))],
  ["hawkbit.url", ok($a.hawkbit.url | url("https|http"))],
  ["hawkbit.tenant", ok($a.hawkbit.tenant | name)],
  ["hawkbit.controller_id", ok($a.hawkbit.controller_id == $id)],
  ["hawkbit.target_token", ok($a.hawkbit.target_token | token)],
  ["influxdb.url", ok($a.influxdb.url | urlpath("https|http"))],
  ["influxdb.org", ok($a.influxdb.org | plain)],
  ["influxdb.bucket", ok($a.influxdb.bucket | plain)],
  ["influxdb.token", ok($a.influxdb.token | token)],
  ["terminal.port", ok($a.terminal.port | integer(1; 65535))],
  ["terminal.username", ok($a.terminal.username | name)],
  ["terminal.password", ok($a.terminal.password | token)]
])'

RENEW_CHECKS='report([
  ["device_id", ok($a.device_id == $id)],
  ["certificate_pem", ok($a.certificate_pem | pem)],
  ["chain_pem", ok($a.chain_pem | pems)],
  ["certificate_not_after", ok($a.certificate_not_after | plain)]
])'

# Writes the answer's certificate, chain and root (when it has one) as PEM files into $2.
write_pems() {
    jq -j '.certificate_pem | sub("\n*$"; "\n")' "$1" >"$2/device.crt"
    jq -j '.chain_pem | map(sub("\n*$"; "\n")) | join("")' "$1" >"$2/chain.pem"
    cat "$2/device.crt" "$2/chain.pem" >"$2/fullchain.pem"
    if jq -e 'has("root_ca_pem")' "$1" >/dev/null; then
        jq -j '.root_ca_pem | sub("\n*$"; "\n")' "$1" >"$2/root-ca.pem"
    fi
}

fingerprint() {
    openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null
}

VERIFY_OPTIONS="-no-CApath"
if openssl verify -help 2>&1 | grep -q -- '-no-CAstore'; then VERIFY_OPTIONS="-no-CApath -no-CAstore"; fi

# Checks the certificate in answer $1 with openssl: it is for this device's key and name, and
# verifies to the shipped platform root through the answer's chain. Prints why not, and fails.
verify_answer() {
    dir=$STAGE/verify
    rm -rf "$dir"
    mkdir "$dir"
    write_pems "$1" "$dir"
    openssl x509 -in "$dir/device.crt" -noout 2>/dev/null || {
        printf 'certificate_pem does not parse'
        return 1
    }
    cert_key=$(openssl x509 -in "$dir/device.crt" -noout -pubkey 2>/dev/null)
    own_key=$(openssl pkey -in "$STATE_DIR/device.key" -pubout 2>/dev/null)
    [ "$cert_key" = "$own_key" ] || {
        printf 'the certificate is not for the device key'
        return 1
    }
    subject=$(openssl x509 -in "$dir/device.crt" -noout -subject -nameopt RFC2253 2>/dev/null)
    [ "$subject" = "subject=CN=$DEVICE_ID" ] || {
        printf 'the certificate names %s, not CN=%s' "$subject" "$DEVICE_ID"
        return 1
    }
    if [ -f "$dir/root-ca.pem" ] && [ "$(fingerprint "$dir/root-ca.pem")" != "$(fingerprint "$ROOT_CA_FILE")" ]; then
        printf 'root_ca_pem is not the platform root in %s' "$ROOT_CA_FILE"
        return 1
    fi
    # shellcheck disable=SC2086 # two options or one
    if ! result=$(openssl verify $VERIFY_OPTIONS -purpose sslclient -CAfile "$ROOT_CA_FILE" \
        -untrusted "$dir/chain.pem" "$dir/device.crt" 2>&1); then
        printf 'the certificate does not verify to the platform root: %s' "$(printf '%s' "$result" | tr '\n' ' ')"
        return 1
    fi
}

check_enrollment_answer() {
    run_checks "$1" "$ENROLL_CHECKS" && verify_answer "$1"
}

check_renewal_answer() {
    run_checks "$1" "$RENEW_CHECKS" && verify_answer "$1"
}
