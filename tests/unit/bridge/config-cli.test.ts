/** The bridge's environment configuration and its operators' command line. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commandCall } from "../../../runtime/bridge/cli";
import { isWireguardKey, readBridgeConfig } from "../../../runtime/bridge/config";
import { EnvError } from "../../../runtime/shared/env";
import { wireguardKey } from "../../support/bridge";

const dir = mkdtempSync(join(tmpdir(), "bridge-config-"));
const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
};
file("name", "bridge-acme\n");
file("kid", "kid-1\n");
file("private-key.pem", "-----BEGIN PRIVATE KEY-----\n");

const tenantEnv = {
    BRIDGE_ROLE: "tenant",
    BRIDGE_TENANT_ID: "acme",
    PGHOST: "postgres",
    STEP_CA_URL: "https://step-ca.cdm-tenant-acme.svc.cluster.local:9000",
    STEP_CA_ROOT_FILE: file("root.crt", "root"),
    STEP_CA_PROVISIONER_DIR: dir,
    SUB_CA_CERT_FILE: file("sub-ca.crt", "sub-ca"),
    OIDC_ISSUER: "https://auth.acme.example.com/auth/realms/acme",
    WIREGUARD_ENDPOINT: "vpn.acme.example.com:51820",
    WIREGUARD_SERVER_PUBLIC_KEY: wireguardKey(),
    DEVICE_MQTT_URL: "mqtts://things.acme.example.com:8883",
    DEVICE_HAWKBIT_URL: "https://ota.acme.example.com",
    DEVICE_INFLUX_URL: "https://metrics.acme.example.com",
    INFLUX_ORG: "acme",
    INFLUX_BUCKET: "devices",
    INFLUX_DEVICE_TOKEN: "write-only",
    HAWKBIT_MGMT_URL: "http://hawkbit:8080",
    HAWKBIT_USERNAME: "bridge",
    HAWKBIT_PASSWORD: "secret",
    TERMINAL_PROXY_TOKEN: "t".repeat(32),
    PEER_AGENT_TOKEN: "p".repeat(32),
    THINGSBOARD_WEBHOOK_TOKEN: "w".repeat(32),
    THINGSBOARD_TENANT_TITLE: "ACME Corporation",
    THINGSBOARD_LOCAL_ACCOUNTS: "sysadmin@thingsboard.org,admin@things.acme.test",
    TERMINAL_CREDENTIAL_KEY: "k".repeat(32),
};

describe("bridge configuration", () => {
    it("reads a tenant bridge's variables with their defaults", () => {
        const config = readBridgeConfig(tenantEnv);
        expect(config.listen).toEqual({
            host: "0.0.0.0",
            port: 8443,
            managementPort: 9464,
            bodyLimit: 65536,
            shutdownDelaySeconds: 5,
        });
        expect(config.database).toEqual({ kind: "postgres", poolSize: 20 });
        expect(config.stepCa).toMatchObject({
            audienceHost: "step-ca.cdm-tenant-acme.svc.cluster.local",
            provisioner: { name: "bridge-acme", kid: "kid-1", alg: "ES256" },
        });
        expect(config.oidc).toEqual({
            issuer: "https://auth.acme.example.com/auth/realms/acme",
            jwksUrl: undefined,
            audience: "bridge",
        });
        expect(config.tenant?.wireguard).toMatchObject({ cidr: "10.8.0.0/16", keepaliveSeconds: 25 });
        expect(config.tenant?.thingsboard).toEqual({
            tenantTitle: "ACME Corporation",
            localAccounts: ["sysadmin@thingsboard.org", "admin@things.acme.test"],
        });
    });

    it("always counts ThingsBoard's system administrator among its own accounts", () => {
        const accounts = (value: string) =>
            readBridgeConfig({ ...tenantEnv, THINGSBOARD_LOCAL_ACCOUNTS: value }).tenant?.thingsboard
                .localAccounts;
        expect(accounts(",")).toEqual(["sysadmin@thingsboard.org"]);
        expect(accounts(" Admin@Things.ACME.test ")).toEqual([
            "sysadmin@thingsboard.org",
            "admin@things.acme.test",
        ]);
    });

    it("names every bad variable at once and never echoes a secret", () => {
        let error: unknown;
        try {
            readBridgeConfig({
                ...tenantEnv,
                BRIDGE_PORT: "70000",
                WIREGUARD_CIDR: "10.8.0.0/8",
                WIREGUARD_SERVER_PUBLIC_KEY: "short",
                PEER_AGENT_TOKEN: "hunter2",
                DEVICE_MQTT_URL: "tcp://things:1883",
                STEP_CA_ROOT_FILE: "/nonexistent/root.crt",
                BRIDGE_TENANT_ID: undefined,
            });
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(EnvError);
        expect((error as EnvError).problems).toEqual([
            'BRIDGE_PORT must be an integer in 1..65535, not "70000"',
            "STEP_CA_ROOT_FILE names a file that cannot be read: /nonexistent/root.crt (ENOENT)",
            "BRIDGE_TENANT_ID is required: the tenant this bridge serves",
            'WIREGUARD_CIDR prefix /8 of "10.8.0.0/8" is outside /16../30',
            "WIREGUARD_SERVER_PUBLIC_KEY must be a base64 Curve25519 key (44 characters)",
            "DEVICE_MQTT_URL must be a mqtts URL, not tcp:",
            "PEER_AGENT_TOKEN must be at least 32 characters",
        ]);
        expect((error as Error).message).not.toContain("hunter2");
    });

    it("recognizes WireGuard keys", () => {
        expect(isWireguardKey(wireguardKey())).toBe(true);
        expect(isWireguardKey("A".repeat(43) + "=")).toBe(true);
        expect(isWireguardKey("A".repeat(42) + "B=")).toBe(false);
        expect(isWireguardKey("A".repeat(44))).toBe(false);
    });
});

describe("the operators' command line", () => {
    it.each([
        [
            ["tokens", "create", "--device", "dev-1", "--ttl", "600"],
            { method: "POST", path: "/enrollment-tokens", body: { ttl_seconds: 600, device_id: "dev-1" } },
        ],
        [
            ["tokens", "create", "--max-uses", "50", "--reenroll"],
            {
                method: "POST",
                path: "/enrollment-tokens",
                body: { ttl_seconds: 86400, max_uses: 50, reenroll: true },
            },
        ],
        [["tokens", "list", "--active"], { method: "GET", path: "/enrollment-tokens?active=true" }],
        [
            ["devices", "decommission", "dev-1", "--reason", "lost at sea"],
            { method: "DELETE", path: "/devices/dev-1?reason=lost%20at%20sea" },
        ],
        [["devices", "show", "dev-1"], { method: "GET", path: "/devices/dev-1" }],
    ])("%j → %j", (argv, call) => expect(commandCall(argv)).toEqual(call));

    it("refuses unknown commands and missing ids with a usage line", () => {
        expect(() => commandCall(["devices", "explode"])).toThrow(/^usage: cdm-bridge tokens create/);
        expect(() => commandCall(["devices", "show"])).toThrow("usage: cdm-bridge devices show ID");
    });
});
