/**
 * Grafana in both stacks: the Deployment, its Keycloak login and Secrets, the provisioning
 * ConfigMaps (no credential in them), its traffic and its Ingress.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { deviceFleetDashboard, dashboardJson, platformDashboard } from "../../components/grafana/dashboards";
import {
    dashboardProviderYaml,
    datasourceYaml,
    platformRoleMapping,
    roleAttributePath,
    tenantRoleMapping,
} from "../../components/grafana/provisioning";
import { Evaluation, generatedMarker } from "../../tools/mock-engine";
import { evaluateProvider, evaluateTenant, find, kubeObject } from "../support/stacks";

let provider: Evaluation;
let acme: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
    acme = await evaluateTenant();
});

const deployment = (stack: Evaluation) => kubeObject(stack, "Deployment", "grafana").spec;
const container = (stack: Evaluation) => deployment(stack).template.spec.containers[0];
const env = (c: { env: { name: string; value?: string; valueFrom?: unknown }[] }): Record<string, unknown> =>
    Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));
const secretRef = (name: string, key: string) => ({ secretKeyRef: { name, key } });
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });
const tcp = (port: number) => [{ port, protocol: "TCP" }];

describe("Grafana workload", () => {
    it("runs one replica of the pinned 13.2 image as uid 472, read-only root, data on an emptyDir", () => {
        for (const stack of [provider, acme]) {
            expect(deployment(stack).replicas).toBe(1);
            const c = container(stack);
            expect(c.image).toBe("docker.io/grafana/grafana:13.2.0");
            expect(deployment(stack).template.spec.securityContext).toMatchObject({
                runAsNonRoot: true,
                runAsUser: 472,
                fsGroup: 472,
            });
            expect(c.securityContext).toMatchObject({
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
            });
            expect(c.volumeMounts).toEqual([
                { name: "data", mountPath: "/var/lib/grafana" },
                { name: "datasources", mountPath: "/etc/grafana/provisioning/datasources", readOnly: true },
                {
                    name: "dashboard-provider",
                    mountPath: "/etc/grafana/provisioning/dashboards",
                    readOnly: true,
                },
                { name: "dashboards", mountPath: "/etc/grafana/dashboards", readOnly: true },
                { name: "scratch-grafana-tmp", mountPath: "/tmp" },
                { name: "scratch-grafana-var-log-grafana", mountPath: "/var/log/grafana" },
            ]);
            expect(deployment(stack).template.spec.volumes).toContainEqual({
                name: "data",
                emptyDir: { sizeLimit: "1Gi" },
            });
            expect(c.readinessProbe.httpGet).toEqual({ path: "/api/health", port: 3000, scheme: "HTTP" });
            expect(c.livenessProbe.httpGet).toEqual({ path: "/api/health", port: 3000, scheme: "HTTP" });
            expect(Object.keys(deployment(stack).template.metadata.annotations)).toEqual([
                "cdm-platform.dev/config-sha256",
            ]);
        }
    });

    it("logs tenant users in through the tenant realm with the tenant role mapping", () => {
        const e = env(container(acme));
        const issuer = "https://auth.acme.cdm.example.com/auth/realms/acme";
        const internal = "http://keycloak.cdm-tenant-acme.svc.cluster.local:8080/auth/realms/acme";
        expect(e).toMatchObject({
            GF_SERVER_ROOT_URL: "https://grafana.acme.cdm.example.com",
            GF_AUTH_DISABLE_LOGIN_FORM: "true",
            GF_AUTH_GENERIC_OAUTH_CLIENT_ID: "grafana",
            GF_AUTH_GENERIC_OAUTH_AUTH_URL: `${issuer}/protocol/openid-connect/auth`,
            GF_AUTH_GENERIC_OAUTH_TOKEN_URL: `${internal}/protocol/openid-connect/token`,
            GF_AUTH_GENERIC_OAUTH_API_URL: `${internal}/protocol/openid-connect/userinfo`,
            GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH: roleAttributePath(tenantRoleMapping),
            GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT: "true",
        });
        expect(e.GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET).toEqual(secretRef("grafana-oauth", "client-secret"));
        expect(e.GF_SECURITY_ADMIN_PASSWORD).toEqual(secretRef("grafana-admin", "password"));
        expect(e.INFLUXDB_TOKEN).toEqual(secretRef("influxdb-grafana-token", "token"));
    });

    it("logs platform staff in through the platform realm with the platform role mapping", () => {
        expect(env(container(provider))).toMatchObject({
            GF_SERVER_ROOT_URL: "https://grafana.cdm.example.com",
            GF_AUTH_GENERIC_OAUTH_AUTH_URL:
                "https://auth.cdm.example.com/auth/realms/platform/protocol/openid-connect/auth",
            GF_AUTH_GENERIC_OAUTH_TOKEN_URL:
                "http://keycloak.cdm-provider.svc.cluster.local:8080/auth/realms/platform/protocol/openid-connect/token",
            GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH: roleAttributePath(platformRoleMapping),
        });
    });

    it("keeps the realm client's secret and the admin password in Secrets only", () => {
        const oauth = find(acme, "kubernetes:core/v1:Secret", "tenant-acme-grafana-oauth");
        expect(oauth.secretPaths).toEqual(["stringData"]);
        // The realm's client secret exists only after deployment: a preview knows no key of it.
        expect(oauth.rawInputs.stringData).toEqual({ secret: "<<known after deploy>>" });
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-grafana-admin").rawInputs.stringData,
        ).toEqual({
            secret: { password: generatedMarker },
        });
    });

    it("generates a client secret when the stack does not manage realms", async () => {
        const stack = await evaluateProvider({ "cdm:keycloakRealms": false });
        expect(
            find(stack, "random:index/randomPassword:RandomPassword", "provider-grafana-client-secret")
                .inputs,
        ).toEqual({ length: 32, special: false });
        expect(
            find(stack, "kubernetes:core/v1:Secret", "provider-grafana-oauth").rawInputs.stringData,
        ).toEqual({
            secret: { "client-secret": generatedMarker },
        });
    });
});

describe("Grafana provisioning", () => {
    it("provisions the stack's InfluxDB with the token left to the environment", () => {
        expect(kubeObject(acme, "ConfigMap", "grafana-datasources").data).toEqual({
            "influxdb.yaml": datasourceYaml({
                url: "http://influxdb.cdm-tenant-acme.svc.cluster.local:8086",
                org: "acme",
                bucket: "devices",
            }),
        });
        expect(kubeObject(provider, "ConfigMap", "grafana-datasources").data["influxdb.yaml"]).toBe(
            datasourceYaml({
                url: "http://influxdb.cdm-provider.svc.cluster.local:8086",
                org: "cdm",
                bucket: "telemetry",
            }),
        );
    });

    it("provisions the Device fleet dashboard on tenants and the Platform dashboard on the provider", () => {
        expect(kubeObject(acme, "ConfigMap", "grafana-dashboards").data).toEqual({
            "cdm-device-fleet.json": dashboardJson(deviceFleetDashboard("devices")),
        });
        expect(kubeObject(provider, "ConfigMap", "grafana-dashboards").data).toEqual({
            "cdm-platform.json": dashboardJson(platformDashboard("telemetry", "device_telemetry")),
        });
        expect(kubeObject(acme, "ConfigMap", "grafana-dashboard-provider").data).toEqual({
            "cdm.yaml": dashboardProviderYaml("Devices"),
        });
        expect(kubeObject(provider, "ConfigMap", "grafana-dashboard-provider").data).toEqual({
            "cdm.yaml": dashboardProviderYaml("Platform"),
        });
    });

    it("puts no secret value in any of its ConfigMaps", () => {
        for (const stack of [provider, acme]) {
            for (const name of ["grafana-datasources", "grafana-dashboard-provider", "grafana-dashboards"]) {
                const r = stack.resources.find(
                    (x) => x.inputs?.kind === "ConfigMap" && x.inputs.metadata.name === name,
                )!;
                expect(r.secretPaths, name).toEqual([]);
                expect(JSON.stringify(r.inputs.data), name).not.toMatch(/<<secret>>|<<generated at deploy>>/);
            }
        }
    });
});

describe("Grafana traffic", () => {
    it("is reached from the ingress controller only and reaches InfluxDB and Keycloak only", () => {
        expect(kubeObject(acme, "NetworkPolicy", "grafana").spec).toMatchObject({
            ingress: [
                {
                    from: [
                        {
                            namespaceSelector: {
                                matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" },
                            },
                        },
                    ],
                    ports: tcp(3000),
                },
            ],
            egress: [
                { to: [app("influxdb")], ports: tcp(8086) },
                { to: [app("keycloak")], ports: tcp(8080) },
            ],
        });
        // Keycloak admits Grafana's token and userinfo calls.
        expect(kubeObject(acme, "NetworkPolicy", "keycloak").spec.ingress[0].from).toContainEqual(
            app("grafana"),
        );
    });

    it("is published on the stack's grafana host", () => {
        for (const [stack, host] of [
            [acme, "grafana.acme.cdm.example.com"],
            [provider, "grafana.cdm.example.com"],
        ] as const) {
            const spec = kubeObject(stack, "Ingress", "grafana").spec;
            expect(spec.tls).toEqual([{ hosts: [host], secretName: "grafana-tls" }]);
            expect(spec.rules).toEqual([
                {
                    host,
                    http: {
                        paths: [
                            {
                                path: "/",
                                pathType: "Prefix",
                                backend: { service: { name: "grafana", port: { number: 3000 } } },
                            },
                        ],
                    },
                },
            ]);
        }
    });
});
