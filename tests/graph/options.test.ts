/** Stack settings that change the graph: kubeconfig, skipAwait, mirrors, storage, external PostgreSQL. */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../components/config/validate";
import { runProgram } from "../../components/program";
import { evaluateStack } from "../../tools/mock-engine";
import { mergeStackConfig } from "../../tools/stack-config";
import { validateKubeObject } from "../../tools/k8s-schema";
import { kubeObjects } from "../../tools/render";
import { evaluateProvider, evaluateTenant, find, kubeObject, ofType, sampleConfig } from "../support/stacks";

describe("stack options", () => {
    it("uses one explicit Kubernetes provider for every object, with or without a kubeconfig", async () => {
        for (const [changes, secret] of [
            [{}, []],
            [{ "cdm:kubeconfig": "apiVersion: v1\nkind: Config" }, ["cdm:kubeconfig"]],
        ] as const) {
            const stack = await evaluateProvider(changes, [...secret]);
            const provider = find(stack, "pulumi:providers:kubernetes", "provider-kubernetes");
            expect(provider.inputs).toEqual(
                secret.length
                    ? { enableServerSideApply: "true", kubeconfig: "<<secret>>" }
                    : { enableServerSideApply: "true" },
            );
            expect(provider.secretPaths).toEqual(secret.length ? ["kubeconfig"] : []);
            const objects = stack.resources.filter((r) => r.type.startsWith("kubernetes:"));
            expect(objects.length).toBe(75);
            expect(objects.every((r) => r.provider?.startsWith(`${provider.urn}::`))).toBe(true);
        }
    });

    it("rejects nothing for a 40-character tenant id and keeps every name and label valid", async () => {
        const stack = await evaluateTenant({ "cdm:tenantId": "a".repeat(40) });
        const problems = (await Promise.all(kubeObjects(stack.resources).map(validateKubeObject))).flat();
        expect(problems).toEqual([]);
    });

    it("protects the namespace unless told otherwise", async () => {
        const name = "tenant-acme-namespace-namespace";
        expect(find(await evaluateTenant(), "kubernetes:core/v1:Namespace", name).protect).toBe(true);
        expect(
            find(await evaluateTenant({ "cdm:protectData": false }), "kubernetes:core/v1:Namespace", name)
                .protect,
        ).toBe(false);
    });

    it("marks every object skipAwait for API servers without nodes", async () => {
        const stack = await evaluateTenant({ "cdm:skipAwait": true });
        const objects = stack.resources.filter((r) => r.type.startsWith("kubernetes:"));
        for (const r of objects) {
            expect(r.inputs.metadata.annotations?.["pulumi.com/skipAwait"], r.name).toBe("true");
        }
    });

    it("pulls from a mirror and uses the storage class", async () => {
        const stack = await evaluateTenant({
            "cdm:imageRegistryMirror": "mirror.example.com",
            "cdm:storageClassName": "fast-ssd",
        });
        const sts = kubeObject(stack, "StatefulSet", "postgres");
        expect(sts.spec.template.spec.containers[0].image).toBe(
            "mirror.example.com/library/postgres:17.6-alpine3.22",
        );
        expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe("fast-ssd");
    });

    it("connects to an external PostgreSQL without running one", async () => {
        const passwords = { thingsboard: "a", hawkbit: "b", keycloak: "c", bridge: "d" };
        const stack = await evaluateTenant(
            {
                "cdm:postgresMode": "external",
                "cdm:postgresExternalHost": "db.example.com",
                "cdm:postgresExternalSslMode": "require",
                "cdm:postgresExternalCidr": "10.20.0.0/24",
                "cdm:postgresExternalPasswords": JSON.stringify(passwords),
            },
            ["cdm:postgresExternalPasswords"],
        );
        expect(ofType(stack, "kubernetes:apps/v1:StatefulSet").map((r) => r.inputs.metadata.name)).toEqual([
            "influxdb",
            "step-ca",
            "hawkbit",
        ]);
        // No PostgreSQL provisioning: InfluxDB's token Job and ThingsBoard's Jobs only.
        expect(ofType(stack, "kubernetes:batch/v1:Job").map((r) => r.inputs.metadata.name)).toEqual([
            "thingsboard-install",
            "influxdb-tokens",
            "thingsboard-bootstrap",
        ]);
        expect(ofType(stack, "random:index/randomPassword:RandomPassword").map((r) => r.name)).toEqual([
            "tenant-acme-step-ca-password",
            "tenant-acme-keycloak-admin-secret",
            "tenant-acme-hawkbit-admin-password",
            "tenant-acme-hawkbit-bridge-password",
            "tenant-acme-influxdb-admin-password",
            "tenant-acme-influxdb-admin-token",
            "tenant-acme-grafana-admin-password",
            "tenant-acme-bridge-terminal-proxy-token",
            "tenant-acme-bridge-peer-agent-token",
            "tenant-acme-bridge-thingsboard-webhook-token",
            "tenant-acme-bridge-terminal-credential-key",
            "tenant-acme-thingsboard-sysadmin-password",
            "tenant-acme-thingsboard-tenant-admin-password",
        ]);

        const secret = find(stack, "kubernetes:core/v1:Secret", "tenant-acme-postgres-hawkbit-connection");
        expect(secret.rawInputs.stringData).toEqual({
            secret: {
                host: "db.example.com",
                port: "5432",
                database: "hawkbit",
                username: "hawkbit",
                password: "b",
                sslmode: "require",
                "jdbc-url": "jdbc:postgresql://db.example.com:5432/hawkbit?sslmode=require",
            },
        });
    });

    it("refuses an external server without a password for every consumer", async () => {
        const config = mergeStackConfig("tenant", {
            ...sampleConfig("tenant"),
            "cdm:postgresMode": "external",
            "cdm:postgresExternalHost": "db.example.com",
            "cdm:postgresExternalSslMode": "require",
            "cdm:postgresExternalCidr": "10.20.0.0/24",
            "cdm:postgresExternalPasswords": '{"thingsboard":"a","hawkbt":"b"}',
        });
        let refusal: unknown;
        const stack = await evaluateStack({
            stack: "tenant",
            config: { values: config.values, secretKeys: ["cdm:postgresExternalPasswords"] },
            program: () => {
                try {
                    return runProgram();
                } catch (error) {
                    refusal = error;
                    return {};
                }
            },
        });
        expect(refusal).toBeInstanceOf(ConfigError);
        expect((refusal as Error).message).toBe(
            [
                "invalid stack configuration:",
                "  - cdm:postgresExternalPasswords: no password for consumer(s) hawkbit, keycloak, bridge",
                "  - cdm:postgresExternalPasswords: no consumer named hawkbt (consumers: thingsboard, hawkbit, keycloak, bridge)",
            ].join("\n"),
        );
        // Refused before the first resource: nothing half-made.
        expect(stack.resources).toEqual([]);
    });
});

describe("program entry point", () => {
    it("index.ts builds the stack named by cdm:role and exports its outputs", async () => {
        const config = mergeStackConfig("provider", sampleConfig("provider"));
        const stack = await evaluateStack({
            stack: "provider",
            config: { values: config.values, secretKeys: [] },
            program: async () =>
                ((await import("../../index.js")) as { default: Record<string, unknown> }).default,
        });
        expect(stack.outputs.namespace).toBe("cdm-provider");
        expect(
            stack.resources.filter((r) => r.type === "cdm:stack:ProviderStack").map((r) => r.name),
        ).toEqual(["provider"]);
    });
});
