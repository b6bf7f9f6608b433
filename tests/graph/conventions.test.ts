/**
 * Rules every stack must keep, checked on both sample stacks: the security baseline, secrets
 * only in Secrets, naming conventions, schema validity and tenant isolation.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { baselineViolations, SecurityException } from "../../components/k8s/security";
import { isCredentialName } from "../../components/k8s/credentials";
import { exceptionReasons, securityExceptionAnnotation } from "../../components/k8s/pod";
import { validateKubeObject } from "../../tools/k8s-schema";
import { Evaluation } from "../../tools/mock-engine";
import { isKubeObject, kubeObjects } from "../../tools/render";
import { evaluateProvider, evaluateTenant, podTemplates } from "../support/stacks";

const stacks: Record<string, Evaluation> = {};

beforeAll(async () => {
    stacks.provider = await evaluateProvider();
    stacks.acme = await evaluateTenant();
    stacks.globex = await evaluateTenant({ "cdm:tenantId": "globex", "cdm:wireguardCidr": "10.9.0.0/16" });
});

const names = ["provider", "acme", "globex"];

/** The only departures from the baseline, each with the reason its pods carry. */
const allowedExceptions: Record<string, SecurityException[]> = {
    "StatefulSet step-ca": [
        {
            reason: "the step-ca binary carries the file capability cap_net_bind_service",
            addCapabilities: ["NET_BIND_SERVICE"],
        },
    ],
    "Deployment keycloak": [
        {
            reason: "Keycloak's start re-augments the server into /opt/keycloak/lib",
            writableRootFilesystem: true,
        },
    ],
    "Deployment wireguard": [
        {
            reason: "the WireGuard server creates its interface and packet filter (NET_ADMIN; MKNOD for wireguard-go's /dev/net/tun) as root",
            addCapabilities: ["NET_ADMIN", "MKNOD"],
            runAsRoot: true,
            containers: ["wireguard"],
        },
        {
            reason: "the peer-sync agent sets the interface's peers (NET_ADMIN) as root",
            addCapabilities: ["NET_ADMIN"],
            runAsRoot: true,
            containers: ["peer-agent"],
        },
    ],
};

/** The only egress outside the namespace besides DNS: app and port, with the reason. */
const allowedExternalEgress: Record<string, number[]> = {
    // The tenant realm's federation back channel to the platform realm's public endpoint.
    keycloak: [443],
    // InfluxDB's token Job patches its Secrets through the Kubernetes API, whose address is the
    // cluster's (443 on the Service, 6443 on the control plane behind it).
    "influxdb-tokens": [443, 6443],
    // ThingsBoard's rule chain publishes to the provider's AMQPS endpoint, wherever it runs.
    thingsboard: [5671],
};

/** The only ingress rules from any address: devices dialling their endpoints. */
const publicIngress: Record<string, { port: number; protocol: string }> = {
    wireguard: { port: 51820, protocol: "UDP" },
    thingsboard: { port: 8883, protocol: "TCP" },
};

describe.each(names)("stack %s", (name) => {
    const stack = () => stacks[name];

    it("renders objects the Kubernetes API schemas accept", async () => {
        const objects = kubeObjects(stack().resources);
        expect(objects.length).toBeGreaterThan(10);
        const problems = (await Promise.all(objects.map(validateKubeObject))).flat();
        expect(problems).toEqual([]);
    });

    it("never renders two objects of the same kind, namespace and name", () => {
        const keys = kubeObjects(stack().resources).map(
            (o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`,
        );
        expect(new Set(keys).size).toBe(keys.length);
    });

    it("runs every pod under the security baseline, with exceptions only where annotated", () => {
        const templates = podTemplates(stack());
        expect(templates.length).toBeGreaterThan(0);
        for (const { kind, name: objectName, template } of templates) {
            const exceptions = allowedExceptions[`${kind} ${objectName}`];
            expect(
                template.metadata?.annotations?.[securityExceptionAnnotation],
                `${kind} ${objectName}`,
            ).toBe(exceptions && exceptionReasons(exceptions));
            const violations = baselineViolations(template.spec, exceptions).filter(
                // Jobs run to completion; readiness and liveness do not apply to them.
                (v) => !(kind === "Job" && /has no (readiness|liveness) probe$/.test(v)),
            );
            expect(violations, `${kind} ${objectName}`).toEqual([]);
        }
    });

    it("keeps credentials out of ConfigMaps, env literals and every non-Secret object", () => {
        for (const r of stack().resources.filter(isKubeObject)) {
            if (r.inputs.kind === "Secret") continue;
            expect(r.secretPaths, `${r.inputs.kind} ${r.inputs.metadata.name}`).toEqual([]);
        }
        for (const { template } of podTemplates(stack())) {
            for (const c of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
                for (const env of c.env ?? []) {
                    if (isCredentialName(env.name)) {
                        expect(env.valueFrom?.secretKeyRef, `${c.name} ${env.name}`).toBeDefined();
                    }
                }
            }
        }
    });

    it("marks every value of every Secret as a Pulumi secret", () => {
        const secrets = stack().resources.filter((r) => r.inputs?.kind === "Secret");
        expect(secrets.length).toBeGreaterThan(0);
        for (const s of secrets) {
            expect(s.secretPaths, s.name).toEqual(["stringData"]);
            // Every value secret, or the whole field one secret (partly unknown until deployment).
            const data = s.inputs.stringData;
            if (typeof data === "string") expect(data, s.name).toBe("<<secret>>");
            else
                expect(
                    Object.values(data).every((v) => v === "<<secret>>"),
                    s.name,
                ).toBe(true);
        }
    });

    it("names children after their parent and uses three-part component tokens", () => {
        const byUrn = new Map(stack().resources.map((r) => [r.urn, r]));
        for (const r of stack().resources) {
            if (!r.custom) expect(r.type).toMatch(/^cdm:[a-z0-9-]+:[A-Z][A-Za-z]+$/);
            const parent = r.parent ? byUrn.get(r.parent) : undefined;
            if (parent)
                expect(r.name.startsWith(`${parent.name}-`), `${r.name} under ${parent.name}`).toBe(true);
            else expect(["cdm:stack:ProviderStack", "cdm:stack:TenantStack"]).toContain(r.type);
        }
    });

    it("denies all traffic by default and allows DNS", () => {
        const policies = stack()
            .resources.filter((r) => r.inputs?.kind === "NetworkPolicy")
            .map((r) => r.inputs);
        expect(policies.find((p) => p.metadata.name === "default-deny")?.spec).toEqual({
            podSelector: {},
            policyTypes: ["Ingress", "Egress"],
        });
        expect(policies.find((p) => p.metadata.name === "allow-dns")?.spec.policyTypes).toEqual(["Egress"]);
        // Every other policy selects the pods of one application.
        for (const p of policies.filter((p) => !["default-deny", "allow-dns"].includes(p.metadata.name))) {
            expect(Object.keys(p.spec.podSelector.matchLabels)).toContain("app.kubernetes.io/name");
        }
    });

    it("labels every object with the recommended labels", () => {
        for (const o of kubeObjects(stack().resources)) {
            expect(o.metadata.labels?.["app.kubernetes.io/managed-by"], `${o.kind} ${o.metadata.name}`).toBe(
                "pulumi",
            );
            expect(o.metadata.labels?.["app.kubernetes.io/part-of"], `${o.kind} ${o.metadata.name}`).toBe(
                name === "provider" ? "cdm-provider" : `cdm-tenant-${name}`,
            );
        }
    });
});

describe("tenant isolation", () => {
    const policies = (tenant: string) =>
        kubeObjects(stacks[tenant].resources).filter((o) => o.kind === "NetworkPolicy") as any[];
    const namespaceOf = (peer: any) => peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"];

    it("keeps each tenant's objects in its own namespace and its VPN namespace", () => {
        for (const tenant of ["acme", "globex"]) {
            const namespaces = new Set(
                kubeObjects(stacks[tenant].resources).map((o) =>
                    o.kind === "Namespace" ? o.metadata.name : o.metadata.namespace,
                ),
            );
            expect([...namespaces].sort()).toEqual([`cdm-tenant-${tenant}`, `cdm-tenant-${tenant}-vpn`]);
            const vpn = kubeObjects(stacks[tenant].resources).filter(
                (o) => o.metadata.namespace === `cdm-tenant-${tenant}-vpn`,
            );
            // The privileged namespace runs the WireGuard pod and nothing else.
            expect(
                vpn
                    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
                    .map((o) => o.metadata.name),
            ).toEqual(["wireguard"]);
        }
    });

    it("denies by default and allows DNS in both of a tenant's namespaces", () => {
        for (const tenant of ["acme", "globex"]) {
            for (const ns of [`cdm-tenant-${tenant}`, `cdm-tenant-${tenant}-vpn`]) {
                const names = policies(tenant)
                    .filter((p) => p.metadata.namespace === ns)
                    .map((p) => p.metadata.name);
                expect(names, ns).toEqual(expect.arrayContaining(["default-deny", "allow-dns"]));
            }
        }
    });

    it("admits traffic only from named pods, the ingress controller, cluster DNS and the declared exceptions", () => {
        for (const tenant of ["acme", "globex"]) {
            for (const policy of policies(tenant)) {
                const app = policy.spec.podSelector.matchLabels?.["app.kubernetes.io/name"];
                for (const rule of policy.spec.ingress ?? []) {
                    // A rule without `from` admits every pod in the cluster: never allowed.
                    expect(rule.from?.length, JSON.stringify(rule)).toBeGreaterThan(0);
                    for (const peer of rule.from) {
                        if (peer.ipBlock) {
                            // Devices dial the VPN and MQTTS from anywhere, on those ports only.
                            expect([peer.ipBlock, rule.ports], app).toEqual([
                                { cidr: "0.0.0.0/0" },
                                [publicIngress[app]],
                            ]);
                        }
                        const namespace = namespaceOf(peer);
                        if (namespace === `cdm-tenant-${tenant}-vpn`) {
                            // The VPN pod (peer agent, terminal proxy) calls the bridge and Keycloak.
                            expect(peer.podSelector).toEqual({
                                matchLabels: { "app.kubernetes.io/name": "wireguard" },
                            });
                            expect([app, rule.ports]).toEqual(
                                app === "bridge"
                                    ? ["bridge", [{ port: 8443, protocol: "TCP" }]]
                                    : ["keycloak", [{ port: 8080, protocol: "TCP" }]],
                            );
                        } else if (peer.namespaceSelector) {
                            expect(["ingress-nginx", "kube-system"]).toContain(namespace);
                        }
                    }
                }
            }
        }
    });

    it("lets pods reach nothing outside the namespace but cluster DNS and the declared exceptions", () => {
        for (const tenant of ["acme", "globex"]) {
            for (const policy of policies(tenant)) {
                const app = policy.spec.podSelector.matchLabels?.["app.kubernetes.io/name"];
                for (const rule of policy.spec.egress ?? []) {
                    expect(rule.to?.length, `${app}: an egress rule without \`to\``).toBeGreaterThan(0);
                    for (const peer of rule.to) {
                        if (peer.ipBlock) {
                            expect(
                                rule.ports.map((p: { port: number }) => p.port),
                                `${app} egress to ${peer.ipBlock.cidr}`,
                            ).toEqual(allowedExternalEgress[app]);
                        }
                        const namespace = namespaceOf(peer);
                        if (namespace === `cdm-tenant-${tenant}`) {
                            // From the VPN namespace to the tenant's bridge and Keycloak only.
                            expect(app).toBe("wireguard");
                            expect([peer.podSelector.matchLabels, rule.ports]).toEqual(
                                peer.podSelector.matchLabels["app.kubernetes.io/name"] === "bridge"
                                    ? [
                                          { "app.kubernetes.io/name": "bridge" },
                                          [{ port: 8443, protocol: "TCP" }],
                                      ]
                                    : [
                                          { "app.kubernetes.io/name": "keycloak" },
                                          [{ port: 8080, protocol: "TCP" }],
                                      ],
                            );
                        } else if (peer.namespaceSelector) {
                            expect(namespace).toBe("kube-system");
                        }
                    }
                }
            }
        }
    });

    it("generates separate credentials for each tenant", () => {
        const passwords = (e: Evaluation) =>
            e.resources.filter((r) => r.type.startsWith("random:")).map((r) => r.name);
        expect(passwords(stacks.acme).sort()).toEqual(
            [
                ...["superuser", "thingsboard", "hawkbit", "keycloak", "bridge"].map(
                    (n) => `tenant-acme-postgres-${n}-password`,
                ),
                "tenant-acme-step-ca-password",
                "tenant-acme-keycloak-admin-secret",
                "tenant-acme-hawkbit-admin-password",
                "tenant-acme-hawkbit-bridge-password",
                "tenant-acme-wireguard-key-private-key",
                ...["terminal-proxy", "peer-agent", "thingsboard-webhook"].map(
                    (n) => `tenant-acme-bridge-${n}-token`,
                ),
                "tenant-acme-bridge-terminal-credential-key",
                "tenant-acme-influxdb-admin-password",
                "tenant-acme-influxdb-admin-token",
                "tenant-acme-grafana-admin-password",
                "tenant-acme-thingsboard-sysadmin-password",
                "tenant-acme-thingsboard-tenant-admin-password",
            ].sort(),
        );
        expect(passwords(stacks.globex).sort()).toEqual(
            passwords(stacks.acme)
                .map((n) => n.replace("acme", "globex"))
                .sort(),
        );
    });
});
