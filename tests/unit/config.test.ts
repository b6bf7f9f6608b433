import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { rootProfile } from "../../components/pki/profile";
import { parseProviderConfig } from "../../components/config/provider-config";
import { mapRawConfig } from "../../components/config/raw-config";
import { parseTenantConfig } from "../../components/config/tenant-config";
import { ConfigError } from "../../components/config/validate";
import { mergeStackConfig } from "../../tools/stack-config";
import { rootCa } from "../support/pki";
import { sampleConfig } from "../support/stacks";
import { resolve } from "../support/outputs";

/** The raw config a stack sees: Pulumi.yaml defaults, the sample file, then `changes`. */
function raw(stack: "provider" | "tenant", changes: Record<string, unknown> = {}, secretKeys: string[] = []) {
    return mapRawConfig(mergeStackConfig(stack, { ...sampleConfig(stack), ...changes }).values, secretKeys);
}

function problemsOf(fn: () => unknown): readonly string[] {
    try {
        fn();
    } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
    }
    throw new Error("expected a ConfigError");
}

describe("provider configuration", () => {
    it("parses the sample stack", () => {
        const config = parseProviderConfig(raw("provider"));
        expect(config).toMatchObject({
            role: "provider",
            domain: "cdm.example.com",
            namespace: "cdm-provider",
            skipAwait: false,
            ingress: { className: "nginx", controllerNamespace: "ingress-nginx", tlsIssuer: "letsencrypt" },
            postgres: { mode: "in-cluster", storageSize: "20Gi" },
        });
        expect(config.kubeconfig).toBeUndefined();
        expect(config.storageClassName).toBeUndefined();
    });

    it("refuses tenant keys and a wrong role", () => {
        expect(
            problemsOf(() =>
                parseProviderConfig(raw("provider", { "cdm:role": "tenant", "cdm:tenantId": "acme" })),
            ),
        ).toEqual([
            'cdm:role: is "tenant", but a provider configuration was requested',
            "cdm:tenantId: applies to tenant stacks only; remove it from the provider stack",
        ]);
    });

    it("refuses a plaintext kubeconfig and accepts a secret one", async () => {
        expect(
            problemsOf(() => parseProviderConfig(raw("provider", { "cdm:kubeconfig": "apiVersion: v1" }))),
        ).toEqual(["cdm:kubeconfig: holds a credential and must be set with `pulumi config set --secret`"]);
        const config = parseProviderConfig(
            raw("provider", { "cdm:kubeconfig": "apiVersion: v1" }, ["cdm:kubeconfig"]),
        );
        expect(await pulumi.isSecret(config.kubeconfig!)).toBe(true);
        expect(await resolve(config.kubeconfig!)).toBe("apiVersion: v1");
    });

    it("reports every problem at once, naming each key and rule", () => {
        const error = (() => {
            try {
                const values = mergeStackConfig("provider", {
                    ...sampleConfig("provider"),
                    "cdm:domain": "Not A Domain",
                    "cdm:namespace": "Platform_NS",
                    "cdm:postgresStorageSize": "20GB",
                    "cdm:postgresMode": "cloud",
                }).values;
                // The CLI checks declared types first; the program checks again for other callers.
                parseProviderConfig(mapRawConfig({ ...values, "cdm:skipAwait": "yes" }));
            } catch (e) {
                return e as ConfigError;
            }
            throw new Error("no error");
        })();
        expect(error.message).toBe(
            [
                "invalid stack configuration:",
                '  - cdm:domain: "Not A Domain" is not a lower-case DNS name such as cdm.example.com',
                "  - cdm:namespace: \"Platform_NS\" is not a DNS label (a-z, 0-9, '-', at most 63 characters)",
                '  - cdm:skipAwait: "yes" is not a boolean (true or false)',
                '  - cdm:postgresMode: "cloud" is not one of in-cluster, external',
                '  - cdm:postgresStorageSize: "20GB" is not a Kubernetes quantity such as 500m, 4 or 10Gi',
            ].join("\n"),
        );
    });

    it("refuses a namespace that belongs to another stack", () => {
        for (const ns of ["cdm-tenant-globex", "kube-system", "default"]) {
            expect(problemsOf(() => parseProviderConfig(raw("provider", { "cdm:namespace": ns })))).toEqual([
                `cdm:namespace: "${ns}" is reserved; use cdm-provider or a name outside cdm-*, kube-*, default`,
            ]);
        }
        expect(parseProviderConfig(raw("provider", { "cdm:namespace": "iot-platform" })).namespace).toBe(
            "iot-platform",
        );
    });

    it("requires the role", () => {
        expect(
            problemsOf(() => parseProviderConfig(mapRawConfig({ "cdm:domain": "cdm.example.com" })))[0],
        ).toBe("cdm:role: is required: set it to `provider` or `tenant`");
    });
});

describe("external PostgreSQL", () => {
    let caPem: string;
    let external: Record<string, string>;

    beforeAll(async () => {
        caPem = (await rootCa(rootProfile)).pem;
        external = {
            "cdm:postgresMode": "external",
            "cdm:postgresExternalHost": "db.example.com",
            "cdm:postgresExternalCaCertificate": caPem,
            "cdm:postgresExternalCidr": "10.20.0.0/24",
        };
    });

    it("takes per-consumer passwords from a secret JSON object", async () => {
        const config = parseProviderConfig(
            raw(
                "provider",
                { ...external, "cdm:postgresExternalPasswords": '{"keycloak":"k-pw","bridge":"b-pw"}' },
                ["cdm:postgresExternalPasswords"],
            ),
        );
        if (config.postgres.mode !== "external") throw new Error("expected external mode");
        expect(config.postgres).toMatchObject({
            host: "db.example.com",
            port: 5432,
            sslMode: "verify-full",
            caCertificate: caPem,
            cidr: "10.20.0.0/24",
            consumers: ["bridge", "keycloak"],
        });
        expect(await pulumi.isSecret(config.postgres.passwords)).toBe(true);
        expect(await resolve(config.postgres.passwords)).toEqual({ keycloak: "k-pw", bridge: "b-pw" });
    });

    it("refuses missing, plaintext or malformed passwords without echoing them", () => {
        expect(problemsOf(() => parseProviderConfig(raw("provider", external)))).toEqual([
            "cdm:postgresExternalPasswords: is required when cdm:postgresMode is external",
        ]);
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw("provider", {
                        ...external,
                        "cdm:postgresExternalPasswords": '{"keycloak":"hunter2"}',
                    }),
                ),
            ),
        ).toEqual([
            "cdm:postgresExternalPasswords: holds a credential and must be set with `pulumi config set --secret`",
        ]);
        const malformed = problemsOf(() =>
            parseProviderConfig(
                raw("provider", { ...external, "cdm:postgresExternalPasswords": '{"keycloak": hunter2' }, [
                    "cdm:postgresExternalPasswords",
                ]),
            ),
        );
        expect(malformed).toEqual([
            "cdm:postgresExternalPasswords: is not valid JSON (expected an object of consumer name to password)",
        ]);
        expect(malformed.join()).not.toContain("hunter2");
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw(
                        "provider",
                        { ...external, "cdm:postgresExternalPasswords": '{"Key Cloak":"x","bridge":""}' },
                        ["cdm:postgresExternalPasswords"],
                    ),
                ),
            ),
        ).toEqual([
            'cdm:postgresExternalPasswords: entries "Key Cloak", "bridge" need a DNS-label name and a non-empty string password',
        ]);
    });

    it("refuses an unknown sslmode and a missing host, CA and address range", () => {
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw(
                        "provider",
                        {
                            "cdm:postgresMode": "external",
                            "cdm:postgresExternalSslMode": "disable",
                            "cdm:postgresExternalPasswords": "{}",
                        },
                        ["cdm:postgresExternalPasswords"],
                    ),
                ),
            ),
        ).toEqual([
            "cdm:postgresExternalHost: is required when cdm:postgresMode is external",
            'cdm:postgresExternalSslMode: "disable" is not one of require, verify-ca, verify-full',
            "cdm:postgresExternalCidr: is required when cdm:postgresMode is external",
        ]);
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw(
                        "provider",
                        {
                            ...external,
                            "cdm:postgresExternalHost": "db.example.com/x?sslmode=disable&",
                            "cdm:postgresExternalCaCertificate": "",
                            "cdm:postgresExternalCidr": "10.20.0.1/24",
                            "cdm:postgresExternalPasswords": "{}",
                        },
                        ["cdm:postgresExternalPasswords"],
                    ),
                ),
            ),
        ).toEqual([
            'cdm:postgresExternalHost: "db.example.com/x?sslmode=disable&" is not a DNS name or IPv4 address',
            "cdm:postgresExternalCaCertificate: is required with cdm:postgresExternalSslMode verify-full",
            'cdm:postgresExternalCidr: "10.20.0.1/24" has host bits set; the network is 10.20.0.0/24',
        ]);
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw(
                        "provider",
                        {
                            ...external,
                            "cdm:postgresExternalCaCertificate": "not a pem",
                            "cdm:postgresExternalPasswords": "{}",
                        },
                        ["cdm:postgresExternalPasswords"],
                    ),
                ),
            ),
        ).toEqual(["cdm:postgresExternalCaCertificate: is not a PEM certificate"]);
    });

    it("needs no CA with sslmode require", () => {
        const config = parseProviderConfig(
            raw(
                "provider",
                {
                    ...external,
                    "cdm:postgresExternalSslMode": "require",
                    "cdm:postgresExternalCaCertificate": "",
                    "cdm:postgresExternalPasswords": '{"keycloak":"k","bridge":"b"}',
                },
                ["cdm:postgresExternalPasswords"],
            ),
        );
        expect(config.postgres).toMatchObject({ sslMode: "require", caCertificate: undefined });
    });
});

describe("tenant configuration", () => {
    it("parses the sample stack", () => {
        const config = parseTenantConfig(raw("tenant"));
        expect(config).toMatchObject({
            role: "tenant",
            tenantId: "acme",
            displayName: "ACME Corporation",
            namespace: "cdm-tenant-acme",
            providerStack: "organization/cdm/provider",
            wireguard: { cidr: { network: "10.8.0.0", prefixLength: 16 }, port: 51820 },
            quota: { cpu: "16", memory: "32Gi", storage: "200Gi" },
        });
    });

    it("refuses a tenant id that is not a DNS label, once", () => {
        expect(problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:tenantId": "ACME_Corp" })))).toEqual([
            "cdm:tenantId: \"ACME_Corp\" is not a DNS label of at most 40 characters (lower-case letters, digits and '-', starting and ending with a letter or digit)",
        ]);
        expect(
            problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:tenantId": "a".repeat(41) }))),
        ).toHaveLength(1);
    });

    it("refuses a CIDR that does not parse or leaves no room", () => {
        expect(
            problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:wireguardCidr": "10.8.0/16" }))),
        ).toEqual(['cdm:wireguardCidr: "10.8.0/16" is not an IPv4 CIDR such as 10.8.0.0/16']);
        expect(
            problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:wireguardCidr": "10.8.0.0/31" }))),
        ).toEqual(['cdm:wireguardCidr: prefix /31 of "10.8.0.0/31" is outside /16../30']);
    });

    it("requires a fully qualified provider stack reference", () => {
        const missing = { ...sampleConfig("tenant") };
        delete missing["cdm:providerStack"];
        const values = mergeStackConfig("tenant", missing).values;
        expect(problemsOf(() => parseTenantConfig(mapRawConfig(values)))).toEqual([
            "cdm:providerStack: is required for a tenant stack: the provider stack's name, <org>/cdm/<stack>",
        ]);
        expect(
            problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:providerStack": "provider" }))),
        ).toEqual([
            'cdm:providerStack: "provider" is not a fully qualified stack name <org>/<project>/<stack>',
        ]);
    });

    it("refuses a port out of range and a bad quota", () => {
        expect(
            problemsOf(() =>
                parseTenantConfig(raw("tenant", { "cdm:wireguardPort": "70000", "cdm:quotaMemory": "lots" })),
            ),
        ).toEqual([
            'cdm:wireguardPort: "70000" is not an integer in 1..65535',
            'cdm:quotaMemory: "lots" is not a Kubernetes quantity such as 500m, 4 or 10Gi',
        ]);
    });

    it("uses the tenant id when there is no display name", () => {
        expect(parseTenantConfig(raw("tenant", { "cdm:tenantDisplayName": "" })).displayName).toBe("acme");
    });
});

describe("PKI configuration", () => {
    it("generates the hierarchy by default and refuses brought certificates without pkiMode byo", () => {
        expect(parseProviderConfig(raw("provider")).pki).toEqual({ mode: "generated" });
        expect(
            problemsOf(() => parseProviderConfig(raw("provider", { "cdm:pkiRootCertificate": "PEM" }))),
        ).toEqual(['cdm:pkiRootCertificate: applies only when cdm:pkiMode is "byo"']);
        expect(problemsOf(() => parseProviderConfig(raw("provider", { "cdm:pkiMode": "vault" })))).toEqual([
            'cdm:pkiMode: "vault" is not one of generated, byo',
        ]);
    });

    it("needs all three brought values, the key as a secret, and checks the hierarchy", async () => {
        expect(problemsOf(() => parseProviderConfig(raw("provider", { "cdm:pkiMode": "byo" })))).toEqual([
            'cdm:pkiRootCertificate: is required when cdm:pkiMode is "byo"',
            'cdm:pkiIntermediateCertificate: is required when cdm:pkiMode is "byo"',
            'cdm:pkiIntermediateKey: is required when cdm:pkiMode is "byo"',
        ]);
        const root = await rootCa(rootProfile);
        const other = await rootCa(rootProfile);
        const byo = {
            "cdm:pkiMode": "byo",
            "cdm:pkiRootCertificate": other.pem,
            "cdm:pkiIntermediateCertificate": root.pem,
        };
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw("provider", { ...byo, "cdm:pkiIntermediateKey": root.key.privatePem }),
                ),
            ),
        ).toEqual([
            "cdm:pkiIntermediateKey: holds a credential and must be set with `pulumi config set --secret`",
        ]);
        expect(
            problemsOf(() =>
                parseProviderConfig(
                    raw("provider", { ...byo, "cdm:pkiIntermediateKey": root.key.privatePem }, [
                        "cdm:pkiIntermediateKey",
                    ]),
                ),
            ),
        ).toEqual(["cdm:pkiIntermediateCertificate: was not issued by cdm:pkiRootCertificate"]);
    });

    it("reads device certificate lifetimes and the onboarding credential on tenants", async () => {
        const config = parseTenantConfig(
            raw("tenant", { "cdm:onboardingToken": "t0ken" }, ["cdm:onboardingToken"]),
        );
        expect(config.deviceCertificates).toEqual({ lifetime: "168h", maxLifetime: "720h" });
        expect(await resolve(config.onboardingToken!)).toBe("t0ken");
        expect(await pulumi.isSecret(config.onboardingToken!)).toBe(true);
        expect(
            problemsOf(() =>
                parseTenantConfig(
                    raw("tenant", {
                        "cdm:deviceCertificateLifetime": "7d",
                        "cdm:deviceCertificateMaxLifetime": "720h",
                        "cdm:onboardingToken": "t",
                    }),
                ),
            ),
        ).toEqual([
            'cdm:deviceCertificateLifetime: "7d" is not a number of hours such as 168h',
            "cdm:onboardingToken: holds a credential and must be set with `pulumi config set --secret`",
        ]);
        expect(
            problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:deviceCertificateLifetime": "1000h" }))),
        ).toEqual([
            "cdm:deviceCertificateLifetime: 1000h is longer than cdm:deviceCertificateMaxLifetime 720h",
        ]);
        expect(
            problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:pkiRootCertificate": "PEM" }))),
        ).toEqual([
            "cdm:pkiRootCertificate: applies to the provider stack only; remove it from the tenant stack",
        ]);
        expect(
            problemsOf(() => parseProviderConfig(raw("provider", { "cdm:onboardingToken": "t" }))),
        ).toEqual(["cdm:onboardingToken: applies to tenant stacks only; remove it from the provider stack"]);
    });
});
