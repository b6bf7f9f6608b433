/** InfluxDB's organisations, buckets, scoped tokens, server environment and token script, exactly. */
import { describe, expect, it } from "vitest";
import { deviceMetricsBucket, influxDeviceTokenSecret } from "../../components/bridge/env";
import {
    grafanaTokenSecret,
    influxdbEnv,
    providerInfluxSetup,
    telegrafTokenSecret,
    tenantInfluxSetup,
    tokenScript,
} from "../../components/influxdb/settings";

describe("InfluxDB setups", () => {
    it("gives a tenant its own organisation, the devices bucket, a device write and a Grafana read token", () => {
        expect(tenantInfluxSetup("acme", "30d")).toEqual({
            org: "acme",
            bucket: "devices",
            retention: "30d",
            tokens: [
                {
                    secret: "influxdb-device-token",
                    description: "cdm-devices-write",
                    bucket: "devices",
                    action: "write",
                },
                {
                    secret: "influxdb-grafana-token",
                    description: "cdm-grafana-read",
                    bucket: "devices",
                    action: "read",
                },
            ],
        });
        // The tenant bridge reads the device token from this Secret and names this bucket.
        expect(influxDeviceTokenSecret).toEqual({ name: "influxdb-device-token", token: "token" });
        expect(deviceMetricsBucket).toBe("devices");
    });

    it("gives the provider organisation cdm, the telemetry bucket, a Telegraf write and a Grafana read token", () => {
        expect(providerInfluxSetup("8w")).toEqual({
            org: "cdm",
            bucket: "telemetry",
            retention: "8w",
            tokens: [
                {
                    secret: "influxdb-telegraf-token",
                    description: "cdm-telegraf-write",
                    bucket: "telemetry",
                    action: "write",
                },
                {
                    secret: "influxdb-grafana-token",
                    description: "cdm-grafana-read",
                    bucket: "telemetry",
                    action: "read",
                },
            ],
        });
        expect([telegrafTokenSecret, grafanaTokenSecret]).toEqual([
            "influxdb-telegraf-token",
            "influxdb-grafana-token",
        ]);
    });
});

describe("InfluxDB server environment", () => {
    it("sets up the organisation, bucket and retention, with password and admin token from files", () => {
        expect(influxdbEnv(tenantInfluxSetup("acme", "30d"))).toEqual({
            DOCKER_INFLUXDB_INIT_MODE: "setup",
            DOCKER_INFLUXDB_INIT_USERNAME: "admin",
            DOCKER_INFLUXDB_INIT_PASSWORD_FILE: "/run/secrets/influxdb-admin/password",
            DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE: "/run/secrets/influxdb-admin/token",
            DOCKER_INFLUXDB_INIT_ORG: "acme",
            DOCKER_INFLUXDB_INIT_BUCKET: "devices",
            DOCKER_INFLUXDB_INIT_RETENTION: "30d",
            INFLUXD_HTTP_BIND_ADDRESS: ":8086",
            INFLUXD_REPORTING_DISABLED: "true",
            INFLUXD_LOG_LEVEL: "info",
        });
    });
});

describe("token script", () => {
    const script = tokenScript(tenantInfluxSetup("acme", "30d"));
    const lines = script.split("\n");

    it("reads the admin token and the Kubernetes credential from mounted files", () => {
        expect(lines.slice(0, 7)).toEqual([
            "#!/bin/bash",
            "set -euo pipefail",
            'INFLUX_TOKEN="$(cat /run/secrets/influxdb-admin/token)"',
            "export INFLUX_TOKEN",
            "export INFLUX_ORG='acme'",
            'kube_token="$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"',
            'secrets="https://kubernetes.default.svc/api/v1/namespaces/$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)/secrets"',
        ]);
    });

    it("applies the configured retention, then reconciles one token per grant, in order", () => {
        expect(lines.slice(-5)).toEqual([
            `influx bucket update --id "$(influx bucket list --name 'devices' --hide-headers | cut -f 1)" \\`,
            "    --retention '30d' > /dev/null",
            "reconcile 'influxdb-device-token' 'cdm-devices-write' 'devices' 'write'",
            "reconcile 'influxdb-grafana-token' 'cdm-grafana-read' 'devices' 'read'",
            "",
        ]);
    });

    it("keeps a token InfluxDB still accepts, and fails on any answer but 200 or 401", () => {
        expect(script).toContain(
            `--header @<(printf 'Authorization: Token %s' "$1") "$INFLUX_HOST/api/v2/buckets?limit=1"`,
        );
        expect(script).toContain(
            `            200) echo "$secret: token valid"; return ;;\n            401) ;;\n`,
        );
        expect(script).toContain(`            *) echo "$secret: InfluxDB answered $code" >&2; exit 1 ;;`);
    });

    it("creates a bucket-scoped authorization, patches only the grant's Secret, then drops the grant's others", () => {
        expect(script).toContain(
            `created="$(influx auth create --description "$description" "--$action-bucket" "$bucket_id" --hide-headers)"`,
        );
        expect(script).toContain(`--header 'Content-Type: application/merge-patch+json'`);
        expect(script).toContain(`--data-binary @- "$secrets/$secret"`);
        expect(script).toContain(
            `awk -F '\\t' -v d="$description" -v keep="$id" '$2 == d && $1 != keep { print $1 }'`,
        );
        // The bearer token travels through a file descriptor, the token through stdin.
        expect(script).toContain(`--header @<(printf 'Authorization: Bearer %s' "$kube_token")`);
        expect(script).not.toMatch(
            /set -x|echo "\$token"|echo "\$current"|echo "\$INFLUX_TOKEN"|echo "\$created"/,
        );
    });

    it("quotes values for the shell", () => {
        const odd = tokenScript({ ...providerInfluxSetup("0"), org: "it's" });
        expect(odd).toContain(`export INFLUX_ORG='it'\\''s'`);
    });
});
