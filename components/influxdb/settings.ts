/**
 * InfluxDB 2 as data: the organisation, bucket and scoped tokens of each stack, the server's
 * environment, and the script that makes the tokens. Pure functions; the InfluxDb component
 * (./influxdb.ts) turns them into objects and the unit tests check them exactly.
 */
import { deviceMetricsBucket, influxDeviceTokenSecret } from "../bridge/env";
import { EnvValue } from "../k8s/pod";

export const influxdbApp = "influxdb";
export const influxdbPort = 8086;
/** uid and gid of the image's `influxdb` user. */
export const influxdbUid = 1000;
/** The app label of the Job that makes the scoped tokens. */
export const tokenJobApp = "influxdb-tokens";

/** The provider's organisation and its bucket of tenants' forwarded telemetry. */
export const providerOrg = "cdm";
export const telemetryBucket = "telemetry";
/** The measurement the provider Telegraf writes the rule chains' messages to (tags `tenant`, `device`). */
export const telemetryMeasurement = "device_telemetry";

/** Where the containers read and write. */
export const influxdbPaths = {
    data: "/var/lib/influxdb2",
    /** The CLI's configurations, written by the entrypoint's setup; scratch. */
    cliConfig: "/etc/influxdb2",
    /** The admin Secret (`password`, `token`). */
    admin: "/run/secrets/influxdb-admin",
    /** The token Job's script. */
    script: "/opt/cdm",
    /** Each scoped token's Secret, one directory per Secret name. */
    tokens: "/run/secrets/influxdb-tokens",
    /** The Job's Kubernetes API credential (a projected, short-lived service account token). */
    kubeApi: "/var/run/secrets/kubernetes.io/serviceaccount",
} as const;

/** The admin Secret, made by the component; only InfluxDB and the token Job read it. */
export const adminSecret = { name: "influxdb-admin", password: "password", token: "token" } as const;
/** The initial user; it exists for the UI-less operator's `influx` CLI in the pod only. */
export const adminUser = "admin";

/** The Secret key every scoped-token Secret holds its token in. */
export const tokenKey = "token";
/** Grafana's read-only token on either stack. */
export const grafanaTokenSecret = "influxdb-grafana-token";
/** The provider Telegraf's write-only token on `telemetry` (the Telegraf component reads it). */
export const telegrafTokenSecret = "influxdb-telegraf-token";
export { influxDeviceTokenSecret };

/** One scoped token: its Secret, the bucket and the one action it allows. */
export interface TokenGrant {
    /** The Secret (key `token`) the Job writes the token into; consumers read it from there. */
    readonly secret: string;
    /** The authorization's description in InfluxDB: how the Job finds its own tokens again. */
    readonly description: string;
    readonly bucket: string;
    readonly action: "read" | "write";
}

/** What one stack's InfluxDB holds. */
export interface InfluxSetup {
    readonly org: string;
    readonly bucket: string;
    /** Bucket retention (InfluxDB duration: `30d`, `12h`, `0` keeps forever). */
    readonly retention: string;
    readonly tokens: readonly TokenGrant[];
}

/**
 * A tenant's InfluxDB: organisation = tenant id, bucket `devices`; devices write (the token the
 * bridge hands out at enrollment), Grafana reads.
 */
export function tenantInfluxSetup(tenantId: string, retention: string): InfluxSetup {
    return {
        org: tenantId,
        bucket: deviceMetricsBucket,
        retention,
        tokens: [
            {
                secret: influxDeviceTokenSecret.name,
                description: "cdm-devices-write",
                bucket: deviceMetricsBucket,
                action: "write",
            },
            {
                secret: grafanaTokenSecret,
                description: "cdm-grafana-read",
                bucket: deviceMetricsBucket,
                action: "read",
            },
        ],
    };
}

/** The provider's InfluxDB: organisation `cdm`, bucket `telemetry`; Telegraf writes, Grafana reads. */
export function providerInfluxSetup(retention: string): InfluxSetup {
    return {
        org: providerOrg,
        bucket: telemetryBucket,
        retention,
        tokens: [
            {
                secret: telegrafTokenSecret,
                description: "cdm-telegraf-write",
                bucket: telemetryBucket,
                action: "write",
            },
            {
                secret: grafanaTokenSecret,
                description: "cdm-grafana-read",
                bucket: telemetryBucket,
                action: "read",
            },
        ],
    };
}

/**
 * The server's environment. The image's entrypoint sets up the organisation, bucket, admin user
 * and admin token on the first boot only (no bolt database yet); later boots ignore these.
 * Password and admin token come from the mounted Secret (`_FILE`), never from a literal.
 */
export function influxdbEnv(setup: InfluxSetup): Record<string, EnvValue> {
    return {
        DOCKER_INFLUXDB_INIT_MODE: "setup",
        DOCKER_INFLUXDB_INIT_USERNAME: adminUser,
        DOCKER_INFLUXDB_INIT_PASSWORD_FILE: `${influxdbPaths.admin}/${adminSecret.password}`,
        DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE: `${influxdbPaths.admin}/${adminSecret.token}`,
        DOCKER_INFLUXDB_INIT_ORG: setup.org,
        DOCKER_INFLUXDB_INIT_BUCKET: setup.bucket,
        DOCKER_INFLUXDB_INIT_RETENTION: setup.retention,
        INFLUXD_HTTP_BIND_ADDRESS: `:${influxdbPort}`,
        // No phoning home: the pod has no egress.
        INFLUXD_REPORTING_DISABLED: "true",
        INFLUXD_LOG_LEVEL: "info",
    };
}

/** A shell word in single quotes. */
function quote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Where the token script finds its files and the Kubernetes API (the pod's paths by default). */
export interface ScriptLocations {
    readonly admin: string;
    readonly tokens: string;
    readonly kubeApi: string;
    readonly apiServer: string;
}

export const podLocations: ScriptLocations = {
    admin: influxdbPaths.admin,
    tokens: influxdbPaths.tokens,
    kubeApi: influxdbPaths.kubeApi,
    apiServer: "https://kubernetes.default.svc",
};

/**
 * The token Job's script. InfluxDB 2 cannot be given a token value (`POST /api/v2/authorizations`
 * takes no `token`; influxdb issues #21385, #21478), so the Job creates each authorization and
 * writes the token InfluxDB returns into its pre-created Secret. Idempotent: a Secret whose token
 * InfluxDB still accepts is left alone (2.9 shows no token values in its lists, so the token is
 * tried instead); otherwise a new authorization is made, written, and the grant's other
 * authorizations are deleted. No token is ever printed or passed as an argument: they travel in
 * variables, through stdin and through file descriptors only.
 */
export function tokenScript(setup: InfluxSetup, at: ScriptLocations = podLocations): string {
    const grants = setup.tokens
        .map((t) => `reconcile ${[t.secret, t.description, t.bucket, t.action].map(quote).join(" ")}`)
        .join("\n");
    return `#!/bin/bash
set -euo pipefail
INFLUX_TOKEN="$(cat ${at.admin}/${adminSecret.token})"
export INFLUX_TOKEN
export INFLUX_ORG=${quote(setup.org)}
kube_token="$(cat ${at.kubeApi}/token)"
secrets="${at.apiServer}/api/v1/namespaces/$(cat ${at.kubeApi}/namespace)/secrets"

# The HTTP status InfluxDB answers a token with: 200 for any live token (the bucket list is
# filtered to what it may read), 401 for an unknown or deleted one. Token lists show no tokens.
status_of() {
    curl --silent --output /dev/null --write-out '%{http_code}' \\
        --header @<(printf 'Authorization: Token %s' "$1") "$INFLUX_HOST/api/v2/buckets?limit=1"
}

# reconcile SECRET DESCRIPTION BUCKET ACTION
reconcile() {
    local secret=$1 description=$2 bucket=$3 action=$4 current="" code bucket_id created id token stale
    if [ -f "${at.tokens}/$secret/${tokenKey}" ]; then
        current="$(cat "${at.tokens}/$secret/${tokenKey}")"
    fi
    if [ -n "$current" ]; then
        code="$(status_of "$current")"
        case "$code" in
            200) echo "$secret: token valid"; return ;;
            401) ;;
            *) echo "$secret: InfluxDB answered $code" >&2; exit 1 ;;
        esac
    fi
    bucket_id="$(influx bucket list --name "$bucket" --hide-headers | cut -f 1)"
    # Columns of --hide-headers: ID, Description, Token, User Name, User ID, Permissions.
    created="$(influx auth create --description "$description" "--$action-bucket" "$bucket_id" --hide-headers)"
    id="$(printf '%s\\n' "$created" | cut -f 1)"
    token="$(printf '%s\\n' "$created" | cut -f 3)"
    [ -n "$token" ] || { echo "$secret: InfluxDB returned no token" >&2; exit 1; }
    printf '{"data":{"${tokenKey}":"%s"}}' "$(printf '%s' "$token" | base64 -w 0)" |
        curl --silent --show-error --fail --output /dev/null --request PATCH \\
            --cacert ${at.kubeApi}/ca.crt \\
            --header @<(printf 'Authorization: Bearer %s' "$kube_token") \\
            --header 'Content-Type: application/merge-patch+json' \\
            --data-binary @- "$secrets/$secret"
    # The grant's other authorizations are stale: the replaced token, or one a failed run made.
    for stale in $(influx auth list --hide-headers |
        awk -F '\\t' -v d="$description" -v keep="$id" '$2 == d && $1 != keep { print $1 }'); do
        influx auth delete --id "$stale" > /dev/null
    done
    echo "$secret: new token written"
}

# The retention of the configuration, also after the first setup (which alone reads the env).
influx bucket update --id "$(influx bucket list --name ${quote(setup.bucket)} --hide-headers | cut -f 1)" \\
    --retention ${quote(setup.retention)} > /dev/null
${grants}
`;
}
