/**
 * InfluxDB in both stacks: the StatefulSet, its admin Secret and environment, the token Job with
 * its narrow Kubernetes rights, the empty token Secrets, the traffic, and the tenant's device
 * write endpoint.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { providerInfluxSetup, tenantInfluxSetup, tokenScript } from "../../components/influxdb/settings";
import { Evaluation, generatedMarker } from "../../tools/mock-engine";
import { evaluateProvider, evaluateTenant, find, kubeObject } from "../support/stacks";

let provider: Evaluation;
let acme: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
    acme = await evaluateTenant();
});

const podSpec = (stack: Evaluation) => kubeObject(stack, "StatefulSet", "influxdb").spec.template.spec;
const container = (stack: Evaluation) => podSpec(stack).containers[0];
const env = (c: { env: { name: string; value?: string; valueFrom?: unknown }[] }): Record<string, unknown> =>
    Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });
const tcp = (port: number) => [{ port, protocol: "TCP" }];
const health = (extra: Record<string, number>) => ({
    httpGet: { path: "/health", port: 8086, scheme: "HTTP" },
    initialDelaySeconds: 0,
    periodSeconds: 10,
    timeoutSeconds: 3,
    failureThreshold: 3,
    ...extra,
});

describe("InfluxDB workload", () => {
    it("runs one replica of the pinned 2.9 image as uid 1000 with a read-only root", () => {
        for (const stack of [provider, acme]) {
            expect(kubeObject(stack, "StatefulSet", "influxdb").spec.replicas).toBe(1);
            const c = container(stack);
            expect(c.image).toBe("docker.io/library/influxdb:2.9.1");
            expect(podSpec(stack).securityContext).toMatchObject({
                runAsNonRoot: true,
                runAsUser: 1000,
                runAsGroup: 1000,
                fsGroup: 1000,
            });
            expect(c.securityContext).toMatchObject({
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
            });
            expect(c.ports).toEqual([{ name: "http", containerPort: 8086, protocol: "TCP" }]);
        }
    });

    it("sets up each stack's organisation and bucket with the configured retention, secrets from files", () => {
        expect(env(container(acme))).toEqual({
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
        expect(env(container(provider))).toMatchObject({
            DOCKER_INFLUXDB_INIT_ORG: "cdm",
            DOCKER_INFLUXDB_INIT_BUCKET: "telemetry",
            DOCKER_INFLUXDB_INIT_RETENTION: "30d",
        });
    });

    it("takes the volume size and retention from config", async () => {
        const custom = await evaluateProvider({
            "cdm:metricsRetention": "8w",
            "cdm:influxdbStorageSize": "50Gi",
        });
        expect(env(container(custom)).DOCKER_INFLUXDB_INIT_RETENTION).toBe("8w");
        const sts = kubeObject(custom, "StatefulSet", "influxdb").spec;
        expect(sts.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("50Gi");
        expect(kubeObject(custom, "ConfigMap", "influxdb-tokens").data["tokens.sh"]).toBe(
            tokenScript(providerInfluxSetup("8w")),
        );
    });

    it("keeps its data on a volume, probes /health and writes only scratch besides", () => {
        const sts = kubeObject(acme, "StatefulSet", "influxdb").spec;
        expect(sts.volumeClaimTemplates[0].metadata.name).toBe("data");
        expect(sts.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("20Gi");
        const c = container(acme);
        expect(c.volumeMounts).toEqual([
            { name: "data", mountPath: "/var/lib/influxdb2" },
            { name: "admin", mountPath: "/run/secrets/influxdb-admin", readOnly: true },
            { name: "scratch-influxdb-etc-influxdb2", mountPath: "/etc/influxdb2" },
            { name: "scratch-influxdb-tmp", mountPath: "/tmp" },
        ]);
        expect(c.startupProbe).toEqual(health({ failureThreshold: 60 }));
        expect(c.readinessProbe).toEqual(health({}));
        expect(c.livenessProbe).toEqual(health({ periodSeconds: 20, failureThreshold: 6 }));
        expect(kubeObject(acme, "Service", "influxdb").spec).toMatchObject({
            type: "ClusterIP",
            ports: [{ name: "http", port: 8086, targetPort: 8086, protocol: "TCP" }],
        });
    });

    it("generates the admin password and token into a Secret only InfluxDB and the token Job mount", () => {
        for (const [stack, prefix] of [
            [provider, "provider"],
            [acme, "tenant-acme"],
        ] as const) {
            expect(
                find(stack, "random:index/randomPassword:RandomPassword", `${prefix}-influxdb-admin-token`)
                    .inputs,
            ).toEqual({ length: 64, special: false });
            expect(
                find(stack, "kubernetes:core/v1:Secret", `${prefix}-influxdb-admin`).rawInputs.stringData,
            ).toEqual({
                secret: { password: generatedMarker, token: generatedMarker },
            });
        }
        const mounting = (stack: Evaluation) =>
            stack.resources
                .filter((r) => ["StatefulSet", "Deployment", "Job"].includes(r.inputs?.kind))
                .filter((r) =>
                    (r.inputs.spec.template.spec.volumes ?? []).some(
                        (v: { secret?: { secretName: string } }) => v.secret?.secretName === "influxdb-admin",
                    ),
                )
                .map((r) => `${r.inputs.kind} ${r.inputs.metadata.name}`);
        expect(mounting(acme)).toEqual(["StatefulSet influxdb", "Job influxdb-tokens"]);
    });

    it("admits only its clients, the token Job and (tenants) the ingress controller; calls no one", () => {
        expect(kubeObject(acme, "NetworkPolicy", "influxdb").spec).toMatchObject({
            ingress: [
                {
                    from: [
                        app("grafana"),
                        app("influxdb-tokens"),
                        {
                            namespaceSelector: {
                                matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" },
                            },
                        },
                    ],
                    ports: tcp(8086),
                },
            ],
        });
        expect(kubeObject(provider, "NetworkPolicy", "influxdb").spec).toMatchObject({
            ingress: [{ from: [app("grafana"), app("telegraf"), app("influxdb-tokens")], ports: tcp(8086) }],
        });
    });
});

describe("InfluxDB scoped tokens", () => {
    it("pre-creates each token Secret empty, so that Pulumi never owns the token the Job writes", () => {
        for (const [stack, prefix, names] of [
            [acme, "tenant-acme", ["device-token", "grafana-token"]],
            [provider, "provider", ["telegraf-token", "grafana-token"]],
        ] as const) {
            for (const n of names) {
                const secret = find(stack, "kubernetes:core/v1:Secret", `${prefix}-influxdb-${n}`);
                expect(secret.inputs.metadata.name).toBe(`influxdb-${n}`);
                expect(secret.rawInputs.stringData).toEqual({ secret: {} });
            }
        }
    });

    it("runs the token script of the stack's setup as uid 1000, with a projected, expiring API token", () => {
        const job = kubeObject(acme, "Job", "influxdb-tokens");
        expect(kubeObject(acme, "ConfigMap", "influxdb-tokens").data).toEqual({
            "tokens.sh": tokenScript(tenantInfluxSetup("acme", "30d")),
        });
        const spec = job.spec.template.spec;
        expect(spec.restartPolicy).toBe("Never");
        expect(spec.automountServiceAccountToken).toBe(false);
        expect(spec.serviceAccountName).toBe("influxdb-tokens");
        const [c] = spec.containers;
        expect(c.command).toEqual(["/bin/bash", "/opt/cdm/tokens.sh"]);
        expect(c.env).toEqual([
            { name: "INFLUX_HOST", value: "http://influxdb.cdm-tenant-acme.svc.cluster.local:8086" },
        ]);
        expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toEqual([
            "/opt/cdm",
            "/run/secrets/influxdb-admin",
            "/run/secrets/influxdb-tokens/influxdb-device-token",
            "/run/secrets/influxdb-tokens/influxdb-grafana-token",
            "/var/run/secrets/kubernetes.io/serviceaccount",
            "/tmp",
        ]);
        expect(
            spec.volumes.find((v: { name: string }) => v.name === "kube-api").projected.sources[0],
        ).toEqual({
            serviceAccountToken: { path: "token", expirationSeconds: 600 },
        });
        expect(Object.keys(job.spec.template.metadata.annotations)).toEqual([
            "cdm-platform.dev/script-sha256",
        ]);
    });

    it("may patch exactly the stack's token Secrets and nothing else", () => {
        expect(kubeObject(acme, "Role", "influxdb-tokens").rules).toEqual([
            {
                apiGroups: [""],
                resources: ["secrets"],
                resourceNames: ["influxdb-device-token", "influxdb-grafana-token"],
                verbs: ["patch"],
            },
        ]);
        expect(kubeObject(provider, "Role", "influxdb-tokens").rules[0].resourceNames).toEqual([
            "influxdb-telegraf-token",
            "influxdb-grafana-token",
        ]);
        expect(kubeObject(acme, "RoleBinding", "influxdb-tokens")).toMatchObject({
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "influxdb-tokens" },
            subjects: [{ kind: "ServiceAccount", name: "influxdb-tokens", namespace: "cdm-tenant-acme" }],
        });
        expect(kubeObject(acme, "NetworkPolicy", "influxdb-tokens").spec).toEqual({
            podSelector: { matchLabels: { "app.kubernetes.io/name": "influxdb-tokens" } },
            policyTypes: ["Ingress", "Egress"],
            egress: [
                { to: [app("influxdb")], ports: tcp(8086) },
                {
                    to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
                    ports: [
                        { port: 443, protocol: "TCP" },
                        { port: 6443, protocol: "TCP" },
                    ],
                },
            ],
        });
    });

    it("gives the tenant bridge the device token Secret the Job fills", () => {
        const bridge = kubeObject(acme, "Deployment", "bridge").spec.template.spec.containers[0];
        expect(env(bridge).INFLUX_DEVICE_TOKEN).toEqual({
            secretKeyRef: { name: "influxdb-device-token", key: "token" },
        });
        expect(env(bridge)).toMatchObject({ INFLUX_ORG: "acme", INFLUX_BUCKET: "devices" });
    });
});

describe("InfluxDB device write endpoint", () => {
    it("publishes the write API only, on the metrics host, with a certificate from the tenant Sub-CA", () => {
        const ingress = kubeObject(acme, "Ingress", "influxdb");
        expect(ingress.metadata.annotations).toEqual({});
        expect(ingress.spec).toEqual({
            ingressClassName: "nginx",
            tls: [{ hosts: ["metrics.acme.cdm.example.com"], secretName: "influxdb-tls" }],
            rules: [
                {
                    host: "metrics.acme.cdm.example.com",
                    http: {
                        paths: [
                            {
                                path: "/api/v2/write",
                                pathType: "Prefix",
                                backend: { service: { name: "influxdb", port: { number: 8086 } } },
                            },
                        ],
                    },
                },
            ],
        });
        expect(
            find(acme, "tls:index/certRequest:CertRequest", "tenant-acme-influxdb-tls-request").inputs,
        ).toMatchObject({
            dnsNames: ["metrics.acme.cdm.example.com"],
        });
    });

    it("has no public endpoint on the provider", () => {
        expect(() => kubeObject(provider, "Ingress", "influxdb")).toThrow("no Ingress influxdb");
    });
});
