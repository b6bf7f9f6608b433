/** The IoT Bridge API in both stacks: the Deployment the runtime's configuration contract needs, its traffic, its image. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { sslPassthroughAnnotation } from "../../components/bridge/bridge";
import { parseProviderConfig } from "../../components/config/provider-config";
import { mapRawConfig } from "../../components/config/raw-config";
import { loadTenantConfig } from "../../components/config/tenant-config";
import { ConfigError } from "../../components/config/validate";
import { images } from "../../components/images";
import { rootProfile } from "../../components/pki/profile";
import { TenantStack } from "../../components/tenant-stack";
import { readBridgeConfig } from "../../runtime/bridge/config";
import { Evaluation, evaluateStack } from "../../tools/mock-engine";
import { mergeStackConfig, projectRoot } from "../../tools/stack-config";
import { rootCa } from "../support/pki";
import { evaluateProvider, evaluateTenant, find, kubeObject, ofType, sampleConfig } from "../support/stacks";

let provider: Evaluation;
let acme: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
    acme = await evaluateTenant();
});

const podSpec = (stack: Evaluation) => kubeObject(stack, "Deployment", "bridge").spec.template.spec;
const container = (stack: Evaluation) => podSpec(stack).containers[0];
/** The container's env as name → literal value or `valueFrom`. */
const env = (stack: Evaluation): Record<string, unknown> =>
    Object.fromEntries(container(stack).env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const secretRef = (name: string, key: string) => ({ secretKeyRef: { name, key } });

/** What both bridges get, with the stack's names. */
function commonEnv(ns: string, realm: string, issuer: string) {
    const pg = (key: string) => secretRef("postgres-bridge", key);
    return {
        BRIDGE_PORT: "8443",
        BRIDGE_MANAGEMENT_PORT: "9464",
        BRIDGE_TLS_CERT_FILE: "/etc/bridge/tls/tls.crt",
        BRIDGE_TLS_KEY_FILE: "/etc/bridge/tls/tls.key",
        BRIDGE_DATABASE: "postgres",
        PGHOST: pg("host"),
        PGPORT: pg("port"),
        PGDATABASE: pg("database"),
        PGUSER: pg("username"),
        PGPASSWORD: pg("password"),
        PGSSLMODE: pg("sslmode"),
        STEP_CA_URL: `https://step-ca.${ns}.svc.cluster.local:9000`,
        STEP_CA_AUDIENCE_HOST: `step-ca.${ns}.svc.cluster.local`,
        STEP_CA_ROOT_FILE: "/etc/bridge/ca/root_ca.crt",
        STEP_CA_PROVISIONER_DIR: "/etc/bridge/provisioner",
        OIDC_ISSUER: issuer,
        OIDC_JWKS_URL: `http://keycloak.${ns}.svc.cluster.local:8080/auth/realms/${realm}/protocol/openid-connect/certs`,
    };
}

/**
 * Runs the runtime's own `readBridgeConfig` on the rendered container: Secret references become
 * stand-in values, and each mounted volume becomes a folder of stand-in files under `root`.
 */
function runtimeConfig(stack: Evaluation) {
    const root = mkdtempSync(join(tmpdir(), "bridge-"));
    const files: Record<string, string[]> = {
        // cert-manager writes a kubernetes.io/tls Secret; StepCa.provisionerSecrets lists its keys.
        tls: ["tls.crt", "tls.key"],
        provisioner: ["name", "kid", "private-key.pem"],
        ca: Object.keys(kubeObject(stack, "ConfigMap", "bridge-ca").data),
    };
    const mounts = container(stack).volumeMounts.filter((m: any) => files[m.name]);
    for (const m of mounts) {
        for (const file of files[m.name]) {
            mkdirSync(join(root, m.mountPath), { recursive: true });
            writeFileSync(join(root, m.mountPath, file), `${m.name}/${file}`);
        }
    }
    const standIn = (ref: { name: string; key: string }) => `${ref.name}/${ref.key}`.padEnd(40, "-");
    const values = Object.fromEntries(
        container(stack).env.map((e: any) => [
            e.name,
            e.valueFrom
                ? standIn(e.valueFrom.secretKeyRef)
                : e.value === "<<known after deploy>>" && e.name === "WIREGUARD_SERVER_PUBLIC_KEY"
                  ? `${"A".repeat(43)}=`
                  : mounts.some((m: any) => e.value.startsWith(m.mountPath))
                    ? join(root, e.value)
                    : e.value,
        ]),
    );
    return readBridgeConfig(values);
}

describe("tenant bridge", () => {
    it("gives the runtime exactly its variables, credentials only through Secret references", () => {
        const tokens = (key: string) => secretRef("bridge-service-tokens", key);
        expect(env(acme)).toEqual({
            BRIDGE_ROLE: "tenant",
            ...commonEnv("cdm-tenant-acme", "acme", "https://auth.acme.cdm.example.com/auth/realms/acme"),
            BRIDGE_TENANT_ID: "acme",
            SUB_CA_CERT_FILE: "/etc/bridge/ca/sub_ca.crt",
            WIREGUARD_CIDR: "10.8.0.0/16",
            WIREGUARD_ENDPOINT: "vpn.acme.cdm.example.com:51820",
            // Derived from the generated private key, so known only after deployment; a plain
            // value, since the tenant namespace holds no part of the server's key Secret.
            WIREGUARD_SERVER_PUBLIC_KEY: "<<known after deploy>>",
            DEVICE_MQTT_URL: "mqtts://mqtt.acme.cdm.example.com:8883",
            DEVICE_HAWKBIT_URL: "https://ota.acme.cdm.example.com",
            DEVICE_INFLUX_URL: "https://metrics.acme.cdm.example.com",
            INFLUX_ORG: "acme",
            INFLUX_BUCKET: "devices",
            INFLUX_DEVICE_TOKEN: secretRef("influxdb-device-token", "token"),
            HAWKBIT_MGMT_URL: "http://hawkbit.cdm-tenant-acme.svc.cluster.local:8080",
            HAWKBIT_USERNAME: secretRef("hawkbit-bridge-credentials", "username"),
            HAWKBIT_PASSWORD: secretRef("hawkbit-bridge-credentials", "password"),
            TERMINAL_PROXY_TOKEN: tokens("terminal-proxy-token"),
            PEER_AGENT_TOKEN: tokens("peer-agent-token"),
            THINGSBOARD_WEBHOOK_TOKEN: tokens("thingsboard-webhook-token"),
            TERMINAL_CREDENTIAL_KEY: secretRef("bridge-terminal-credential-key", "key"),
            // ThingsBoard's logins land in the tenant titled with the display name.
            THINGSBOARD_TENANT_TITLE: "ACME Corporation",
            // ThingsBoard's own accounts: no Keycloak login may become one of them.
            THINGSBOARD_LOCAL_ACCOUNTS: "sysadmin@thingsboard.org,admin@things.acme.cdm.example.com",
        });
    });

    it("renders an environment the runtime's readBridgeConfig accepts, TLS on", () => {
        expect(runtimeConfig(acme)).toMatchObject({
            role: "tenant",
            listen: {
                port: 8443,
                managementPort: 9464,
                tls: { certPem: "tls/tls.crt", keyPem: "tls/tls.key" },
            },
            database: { kind: "postgres" },
            stepCa: {
                url: "https://step-ca.cdm-tenant-acme.svc.cluster.local:9000",
                rootPem: "ca/root_ca.crt",
                audienceHost: "step-ca.cdm-tenant-acme.svc.cluster.local",
                provisioner: { name: "provisioner/name", kid: "provisioner/kid" },
            },
            tenant: {
                tenantId: "acme",
                subCaPem: "ca/sub_ca.crt",
                wireguard: { cidr: "10.8.0.0/16", endpoint: "vpn.acme.cdm.example.com:51820" },
                services: { influxOrg: "acme", influxBucket: "devices" },
            },
        });
    });

    it("generates each service token as a Pulumi secret of 32 characters, in one Secret", async () => {
        for (const n of ["terminal-proxy", "peer-agent", "thingsboard-webhook"]) {
            expect(
                find(acme, "random:index/randomPassword:RandomPassword", `tenant-acme-bridge-${n}-token`)
                    .inputs,
            ).toEqual({ length: 32, special: false });
        }
        expect(Object.keys(kubeObject(acme, "Secret", "bridge-service-tokens").stringData).sort()).toEqual([
            "peer-agent-token",
            "terminal-proxy-token",
            "thingsboard-webhook-token",
        ]);
        const provider = await evaluateProvider();
        const config = mergeStackConfig("tenant", sampleConfig("tenant"));
        const stack = await evaluateStack({
            stack: "tenant",
            config: { values: config.values, secretKeys: [] },
            stackOutputs: { "organization/cdm/provider": provider },
            program: () => {
                const tokens = new TenantStack("tenant-acme", { config: loadTenantConfig() }).bridge
                    .serviceTokens!;
                return {
                    terminalProxy: tokens.terminalProxy.value,
                    peerAgent: tokens.peerAgent.value,
                    thingsboard: tokens.thingsboard.value,
                    terminalProxyRef: tokens.terminalProxy.ref,
                };
            },
        });
        expect([...stack.secretOutputs].sort()).toEqual(["peerAgent", "terminalProxy", "thingsboard"]);
        expect(stack.outputs.terminalProxyRef).toEqual({
            secret: "bridge-service-tokens",
            key: "terminal-proxy-token",
        });
    });

    it("admits the ingress controller and the token-holding services on the API port only", () => {
        const policy = kubeObject(acme, "NetworkPolicy", "bridge").spec;
        const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });
        expect(policy.ingress).toEqual([
            {
                from: [
                    {
                        namespaceSelector: {
                            matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" },
                        },
                    },
                    // The peer agent and the terminal proxy, in the VPN server's pod.
                    {
                        namespaceSelector: {
                            matchLabels: { "kubernetes.io/metadata.name": "cdm-tenant-acme-vpn" },
                        },
                        podSelector: { matchLabels: { "app.kubernetes.io/name": "wireguard" } },
                    },
                    app("thingsboard"),
                ],
                ports: [{ port: 8443, protocol: "TCP" }],
            },
        ]);
        expect(policy.egress).toEqual(
            [
                ["postgres", 5432],
                ["step-ca", 9000],
                ["keycloak", 8080],
                ["hawkbit", 8080],
            ].map(([name, port]) => ({ to: [app(name as string)], ports: [{ port, protocol: "TCP" }] })),
        );
    });
});

describe("provider bridge", () => {
    it("gives the runtime exactly its variables, signing with the CA-capable provisioner", () => {
        expect(env(provider)).toEqual({
            BRIDGE_ROLE: "provider",
            ...commonEnv("cdm-provider", "platform", "https://auth.cdm.example.com/auth/realms/platform"),
            PLATFORM_DOMAIN: "cdm.example.com",
            INTERMEDIATE_CERT_FILE: "/etc/bridge/ca/intermediate_ca.crt",
            KEYCLOAK_ADMIN_URL: "http://keycloak.cdm-provider.svc.cluster.local:8080/auth",
            KEYCLOAK_REALM: "platform",
            KEYCLOAK_CLIENT_ID: "bridge",
            KEYCLOAK_CLIENT_SECRET: {
                secretKeyRef: { name: "bridge-keycloak-client", key: "client-secret" },
            },
            RABBITMQ_MGMT_URL: "http://rabbitmq.cdm-provider.svc.cluster.local:15672",
            RABBITMQ_USERNAME: secretRef("rabbitmq-bridge-credentials", "username"),
            RABBITMQ_PASSWORD: secretRef("rabbitmq-bridge-credentials", "password"),
        });
        expect(podSpec(provider).volumes).toContainEqual({
            name: "provisioner",
            secret: { secretName: "step-ca-provisioner-tenant-sub-ca", defaultMode: 0o440 },
        });
        expect(runtimeConfig(provider)).toMatchObject({
            role: "provider",
            provider: {
                platformDomain: "cdm.example.com",
                intermediatePem: "ca/intermediate_ca.crt",
                keycloak: { realm: "platform", clientId: "bridge" },
                rabbitmq: {
                    url: "http://rabbitmq.cdm-provider.svc.cluster.local:15672",
                    username: "rabbitmq-bridge-credentials/username".padEnd(40, "-"),
                },
            },
            listen: { tls: { certPem: "tls/tls.crt" } },
        });
    });

    it("has no service tokens and admits only the ingress controller", () => {
        expect(
            ofType(provider, "random:index/randomPassword:RandomPassword").map((r) => r.name),
        ).not.toContain("provider-bridge-terminal-proxy-token");
        const policy = kubeObject(provider, "NetworkPolicy", "bridge").spec;
        expect(policy.ingress[0].from).toEqual([
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } },
        ]);
        expect(
            policy.egress.map((r: any) => r.to[0].podSelector.matchLabels["app.kubernetes.io/name"]),
        ).toEqual(["postgres", "step-ca", "keycloak", "rabbitmq"]);
    });
});

describe.each(["provider", "acme"])("bridge workload (%s)", (name) => {
    const stack = () => (name === "provider" ? provider : acme);

    it("runs two replicas of the pinned image as its own user, probed on the management port", () => {
        const deployment = kubeObject(stack(), "Deployment", "bridge");
        expect(deployment.spec.replicas).toBe(2);
        expect(podSpec(stack()).securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10001 });
        const c = container(stack());
        expect(c.image).toBe("ghcr.io/cdm-platform/bridge:0.1.0");
        const probe = (path: string) => ({ path, port: 9464, scheme: "HTTP" });
        expect(c.startupProbe.httpGet).toEqual(probe("/healthz"));
        expect(c.livenessProbe.httpGet).toEqual(probe("/healthz"));
        expect(c.readinessProbe.httpGet).toEqual(probe("/readyz"));
        expect(c.ports).toEqual([
            { name: "https", containerPort: 8443, protocol: "TCP" },
            { name: "management", containerPort: 9464, protocol: "TCP" },
        ]);
        expect(kubeObject(stack(), "Service", "bridge").spec.ports).toEqual([
            { name: "https", port: 8443, targetPort: 8443, protocol: "TCP" },
        ]);
    });

    it("is published in TLS passthrough with the certificate it mounts", () => {
        const ingress = kubeObject(stack(), "Ingress", "bridge");
        expect(ingress.metadata.annotations).toEqual({
            "cert-manager.io/cluster-issuer": "letsencrypt",
            [sslPassthroughAnnotation]: "true",
        });
        const host = name === "provider" ? "api.cdm.example.com" : "api.acme.cdm.example.com";
        expect(ingress.spec.tls).toEqual([{ hosts: [host], secretName: "bridge-tls" }]);
        expect(ingress.spec.rules[0].host).toBe(host);
        expect(ingress.spec.rules[0].http.paths[0].backend).toEqual({
            service: { name: "bridge", port: { number: 8443 } },
        });
        expect(podSpec(stack()).volumes[0]).toEqual({
            name: "tls",
            secret: { secretName: "bridge-tls", defaultMode: 0o440 },
        });
    });
});

describe("runtime images", () => {
    it("pins the tags to package.json's version", () => {
        const pkg = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
            version: string;
        };
        expect([images.bridge.tag, images.vpn.tag]).toEqual([pkg.version, pkg.version]);
    });

    it("takes cdm:bridgeImage as given, and refuses one that is not pinned", async () => {
        const ref = `registry.example.com/cdm/bridge@sha256:${"a".repeat(64)}`;
        expect(container(await evaluateProvider({ "cdm:bridgeImage": ref })).image).toBe(ref);
        const raw = (changes: Record<string, unknown>) =>
            mapRawConfig(mergeStackConfig("provider", { ...sampleConfig("provider"), ...changes }).values);
        expect(() => parseProviderConfig(raw({ "cdm:bridgeImage": "bridge:latest" }))).toThrow(
            new ConfigError([
                'cdm:bridgeImage: "bridge:latest" is not a pinned image reference such as ' +
                    "ghcr.io/cdm-platform/bridge:0.1.0 (registry host, repository, and a tag other than " +
                    "latest or an @sha256 digest)",
            ]),
        );
        expect(() =>
            parseProviderConfig(raw({ "cdm:runtimeImageBuild": true, "cdm:bridgeImage": ref })),
        ).toThrow(
            new ConfigError([
                "cdm:runtimeImageBuild: cannot be combined with cdm:bridgeImage; set one of them",
                "cdm:runtimeImageBuild: needs cdm:imageRegistryMirror, the registry the build is pushed to",
            ]),
        );
        expect(() => parseProviderConfig(raw({ "cdm:vpnImage": ref }))).toThrow(
            new ConfigError([
                "cdm:vpnImage: applies to tenant stacks only; remove it from the provider stack",
            ]),
        );
    });

    it("builds the repository's Dockerfile targets, pushes them to the mirror and runs them by digest", async () => {
        const stack = await evaluateTenant({
            "cdm:runtimeImageBuild": true,
            "cdm:imageRegistryMirror": "mirror.example.com:5000",
        });
        for (const image of ["bridge", "vpn"]) {
            expect(find(stack, "docker:index/image:Image", `tenant-acme-${image}-image`).inputs).toEqual({
                build: { context: ".", target: image },
                imageName: `mirror.example.com:5000/cdm-platform/${image}:0.1.0`,
                registry: { server: "mirror.example.com:5000" },
                buildOnPreview: false,
                skipPush: false,
            });
        }
        expect(container(stack).image).toBe("<<known after deploy>>");
        const vpnPod = kubeObject(stack, "Deployment", "wireguard").spec.template.spec;
        expect(vpnPod.containers.map((c: any) => c.image)).toEqual(Array(3).fill("<<known after deploy>>"));
        const explicit = `registry.example.com/cdm/vpn@sha256:${"b".repeat(64)}`;
        const given = await evaluateTenant({ "cdm:vpnImage": explicit });
        expect(
            kubeObject(given, "Deployment", "wireguard").spec.template.spec.containers.map(
                (c: any) => c.image,
            ),
        ).toEqual([explicit, explicit, explicit]);
    });

    it("verifies an external server with its CA, mounted from the connection Secret", async () => {
        const ca = (await rootCa(rootProfile)).pem;
        const stack = await evaluateProvider(
            {
                "cdm:postgresMode": "external",
                "cdm:postgresExternalHost": "db.example.com",
                "cdm:postgresExternalCaCertificate": ca,
                "cdm:postgresExternalCidr": "10.20.0.0/24",
                "cdm:postgresExternalPasswords": '{"keycloak":"k","bridge":"b"}',
            },
            ["cdm:postgresExternalPasswords"],
        );
        expect(env(stack).PGSSLROOTCERT).toBe("/etc/cdm/postgres/ca.crt");
        expect(podSpec(stack).volumes).toContainEqual({
            name: "postgres-ca",
            secret: { secretName: "postgres-bridge", defaultMode: 0o440 },
        });
        expect(container(stack).volumeMounts).toContainEqual({
            name: "postgres-ca",
            mountPath: "/etc/cdm/postgres/ca.crt",
            subPath: "ca.crt",
            readOnly: true,
        });
        expect(env(provider).PGSSLROOTCERT).toBeUndefined();
    });
});
