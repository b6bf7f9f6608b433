/** The tenant VPN: its privileged namespace, the WireGuard server's pod, key, filter and traffic. */
import { beforeAll, describe, expect, it } from "vitest";
import { parseTenantConfig } from "../../components/config/tenant-config";
import { mapRawConfig } from "../../components/config/raw-config";
import { ConfigError } from "../../components/config/validate";
import { wireguardFirewall } from "../../components/wireguard/firewall";
import { Evaluation } from "../../tools/mock-engine";
import { kubeObjects } from "../../tools/render";
import { mergeStackConfig } from "../../tools/stack-config";
import { evaluateTenant, find, kubeObject, sampleConfig } from "../support/stacks";

let acme: Evaluation;
let globex: Evaluation;

beforeAll(async () => {
    acme = await evaluateTenant();
    globex = await evaluateTenant({
        "cdm:tenantId": "globex",
        "cdm:wireguardCidr": "10.9.64.0/20",
        "cdm:wireguardPort": 51900,
    });
});

/** An object of `kind` named `name` in the VPN namespace of `stack`. */
function vpnObject(stack: Evaluation, kind: string, name: string, tenant = "acme"): Record<string, any> {
    const found = kubeObjects(stack.resources).filter(
        (o) =>
            o.kind === kind &&
            o.metadata.name === name &&
            o.metadata.namespace === `cdm-tenant-${tenant}-vpn`,
    );
    expect(found, `${kind} ${name}`).toHaveLength(1);
    return found[0];
}

const pod = (stack: Evaluation) => kubeObject(stack, "Deployment", "wireguard").spec.template.spec;
const named = (stack: Evaluation, name: string) => pod(stack).containers.find((c: any) => c.name === name);

describe("VPN namespace", () => {
    it("is privileged, beside the restricted tenant namespace, with a small quota of its own", () => {
        expect(kubeObject(acme, "Namespace", "cdm-tenant-acme-vpn").metadata.labels).toEqual({
            "pod-security.kubernetes.io/enforce": "privileged",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/part-of": "cdm-tenant-acme",
            "app.kubernetes.io/managed-by": "pulumi",
            "cdm-platform.dev/tenant": "acme",
        });
        expect(vpnObject(acme, "ResourceQuota", "quota").spec.hard).toMatchObject({
            "limits.cpu": "4",
            "limits.memory": "2Gi",
            "requests.storage": "1Gi",
        });
        expect(vpnObject(acme, "NetworkPolicy", "default-deny").spec).toEqual({
            podSelector: {},
            policyTypes: ["Ingress", "Egress"],
        });
    });

    it("refuses a tenant namespace too long to derive the VPN namespace from", () => {
        const raw = mapRawConfig(
            mergeStackConfig("tenant", { ...sampleConfig("tenant"), "cdm:namespace": `t${"x".repeat(60)}` })
                .values,
        );
        expect(() => parseTenantConfig(raw)).toThrow(
            new ConfigError([
                `cdm:namespace: "t${"x".repeat(60)}" is too long: the VPN's namespace ` +
                    `"t${"x".repeat(60)}-vpn" must fit in 63 characters`,
            ]),
        );
    });
});

describe("WireGuard server key", () => {
    it("is generated once as 32 random bytes, both halves in a Secret of the VPN namespace only", () => {
        expect(
            find(acme, "random:index/randomBytes:RandomBytes", "tenant-acme-wireguard-key-private-key")
                .inputs,
        ).toEqual({ length: 32 });
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-wireguard-key-secret").secretPaths,
        ).toEqual(["stringData"]);
        // The whole of it is known only after deployment (the key is generated then).
        vpnObject(acme, "Secret", "wireguard-server-key");
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-wireguard-key-secret").inputs.stringData,
        ).toBe("<<secret>>");
        expect(
            kubeObjects(acme.resources).filter(
                (o) =>
                    o.kind === "Secret" &&
                    o.metadata.namespace === "cdm-tenant-acme" &&
                    (o.metadata.name ?? "").includes("wireguard"),
            ),
        ).toEqual([]);
    });
});

describe("WireGuard server", () => {
    it("runs one replica, replaced by Recreate, restarted when its packet filter changes", () => {
        const deployment = vpnObject(acme, "Deployment", "wireguard");
        expect(deployment.spec.replicas).toBe(1);
        expect(deployment.spec.strategy).toEqual({ type: "Recreate" });
        const rules = wireguardFirewall("wg0", 7681, 10001);
        expect(vpnObject(acme, "ConfigMap", "wireguard-firewall").data).toEqual({ rules });
        expect(deployment.spec.template.metadata.annotations["cdm-platform.dev/firewall-sha256"]).toMatch(
            /^[0-9a-f]{64}$/,
        );
        // The terminal proxy's 30 s drain, then the tunnel: the server waits 33 s after SIGTERM.
        expect(pod(acme).terminationGracePeriodSeconds).toBe(45);
    });

    it("brings up the interface at the range's first address, root with NET_ADMIN and MKNOD only", () => {
        const server = named(acme, "wireguard");
        expect(server.command).toBeUndefined();
        expect(server.env).toEqual([
            { name: "WG_INTERFACE", value: "wg0" },
            { name: "WG_ADDRESS", value: "10.8.0.1/16" },
            { name: "WG_LISTEN_PORT", value: "51820" },
            { name: "WG_STOP_DELAY_SECONDS", value: "33" },
            { name: "WG_PRIVATE_KEY_FILE", value: "/etc/wireguard/key/private-key" },
            { name: "WG_FIREWALL_FILE", value: "/etc/wireguard/firewall/rules" },
        ]);
        expect(server.ports).toEqual([{ name: "wireguard", containerPort: 51820, protocol: "UDP" }]);
        expect(server.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: false,
            runAsUser: 0,
            capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "MKNOD"] },
            seccompProfile: { type: "RuntimeDefault" },
        });
        expect(server.readinessProbe.exec).toEqual({ command: ["wg", "show", "wg0", "listen-port"] });
        expect(server.volumeMounts).toEqual([
            { name: "key", mountPath: "/etc/wireguard/key", readOnly: true },
            { name: "firewall", mountPath: "/etc/wireguard/firewall", readOnly: true },
            { name: "sockets", mountPath: "/run/wireguard" },
        ]);
        const other = named(globex, "wireguard").env;
        expect(other.find((e: any) => e.name === "WG_ADDRESS").value).toBe("10.9.64.1/20");
        expect(other.find((e: any) => e.name === "WG_LISTEN_PORT").value).toBe("51900");
    });

    it("runs the peer agent beside it against the tenant bridge, its token from a Secret", () => {
        const agent = named(acme, "peer-agent");
        expect(agent.command).toEqual(["node", "dist/runtime/peer-agent/main.js"]);
        expect(agent.env).toEqual([
            { name: "BRIDGE_URL", value: "https://bridge.cdm-tenant-acme.svc.cluster.local:8443" },
            { name: "BRIDGE_TLS_SERVER_NAME", value: "api.acme.cdm.example.com" },
            {
                name: "PEER_AGENT_TOKEN",
                valueFrom: { secretKeyRef: { name: "wireguard-bridge-token", key: "peer-agent-token" } },
            },
            { name: "WG_INTERFACE", value: "wg0" },
            { name: "PEER_AGENT_HEALTH_PORT", value: "9465" },
        ]);
        expect(agent.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["NET_ADMIN"] });
        expect(agent.securityContext.runAsUser).toBe(0);
        expect(agent.startupProbe.httpGet).toEqual({ path: "/healthz", port: 9465, scheme: "HTTP" });
        expect(agent.readinessProbe.tcpSocket).toEqual({ port: 9465 });
        expect(agent.volumeMounts).toEqual([{ name: "sockets", mountPath: "/run/wireguard" }]);
        vpnObject(acme, "Secret", "wireguard-bridge-token");
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-wireguard-bridge-token").rawInputs,
        ).toMatchObject({
            stringData: { secret: { "peer-agent-token": "<<generated at deploy>>" } },
        });
        expect(pod(acme).volumes).toEqual([
            { name: "key", secret: { secretName: "wireguard-server-key", defaultMode: 0o400 } },
            { name: "firewall", configMap: { name: "wireguard-firewall", defaultMode: 0o444 } },
            { name: "sockets", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
        ]);
    });

    it("takes devices on a UDP LoadBalancer that keeps their addresses; reaches only the bridge and Keycloak", () => {
        expect(vpnObject(acme, "Service", "wireguard").spec).toMatchObject({
            type: "LoadBalancer",
            externalTrafficPolicy: "Local",
            ports: [{ name: "wireguard", port: 51820, targetPort: 51820, protocol: "UDP" }],
        });
        const policy = vpnObject(acme, "NetworkPolicy", "wireguard").spec;
        expect(policy.ingress).toEqual([
            { from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ port: 51820, protocol: "UDP" }] },
            {
                from: [
                    {
                        namespaceSelector: {
                            matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" },
                        },
                    },
                ],
                ports: [{ port: 8080, protocol: "TCP" }],
            },
        ]);
        const inTenant = (app: string) => ({
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "cdm-tenant-acme" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": app } },
        });
        expect(policy.egress).toEqual([
            { to: [inTenant("bridge")], ports: [{ port: 8443, protocol: "TCP" }] },
            { to: [inTenant("keycloak")], ports: [{ port: 8080, protocol: "TCP" }] },
        ]);
    });

    it("runs the terminal proxy beside it, unprivileged, behind the ingress at the terminal host", () => {
        const proxy = named(acme, "terminal-proxy");
        expect(proxy.command).toEqual(["node", "dist/runtime/terminal-proxy/main.js"]);
        expect(proxy.env).toEqual([
            { name: "TERMINAL_PORT", value: "8080" },
            { name: "TERMINAL_MANAGEMENT_PORT", value: "9466" },
            { name: "TERMINAL_TENANT_ID", value: "acme" },
            { name: "OIDC_ISSUER", value: "https://auth.acme.cdm.example.com/auth/realms/acme" },
            {
                name: "OIDC_JWKS_URL",
                value: "http://keycloak.cdm-tenant-acme.svc.cluster.local:8080/auth/realms/acme/protocol/openid-connect/certs",
            },
            { name: "BRIDGE_URL", value: "https://bridge.cdm-tenant-acme.svc.cluster.local:8443" },
            { name: "BRIDGE_TLS_SERVER_NAME", value: "api.acme.cdm.example.com" },
            {
                name: "TERMINAL_PROXY_TOKEN",
                valueFrom: { secretKeyRef: { name: "wireguard-bridge-token", key: "terminal-proxy-token" } },
            },
            {
                name: "TERMINAL_ALLOWED_ORIGINS",
                value: "https://things.acme.cdm.example.com,https://terminal.acme.cdm.example.com",
            },
        ]);
        expect(proxy.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
            seccompProfile: { type: "RuntimeDefault" },
        });
        expect(pod(acme).securityContext.runAsUser).toBe(10001);
        expect(proxy.readinessProbe.httpGet).toEqual({ path: "/readyz", port: 9466, scheme: "HTTP" });
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-wireguard-bridge-token").rawInputs,
        ).toMatchObject({
            stringData: {
                secret: {
                    "peer-agent-token": "<<generated at deploy>>",
                    "terminal-proxy-token": "<<generated at deploy>>",
                },
            },
        });
        expect(vpnObject(acme, "Service", "terminal-proxy").spec).toEqual({
            type: "ClusterIP",
            selector: {
                "app.kubernetes.io/name": "wireguard",
                "app.kubernetes.io/instance": "cdm-tenant-acme-wireguard",
            },
            ports: [{ name: "terminal", port: 8080, targetPort: 8080, protocol: "TCP" }],
        });
        const ingress = vpnObject(acme, "Ingress", "terminal-proxy");
        expect(ingress.metadata.annotations).toMatchObject({
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            "nginx.ingress.kubernetes.io/enable-access-log": "false",
            "cert-manager.io/cluster-issuer": "letsencrypt",
        });
        expect(ingress.spec.rules).toEqual([
            {
                host: "terminal.acme.cdm.example.com",
                http: {
                    paths: ["/terminal", "/sessions"].map((path) => ({
                        path,
                        pathType: "Prefix",
                        backend: { service: { name: "terminal-proxy", port: { number: 8080 } } },
                    })),
                },
            },
        ]);
    });

    it("hands devices the server's public key through the bridge, as a plain value", () => {
        const bridge = kubeObject(acme, "Deployment", "bridge").spec.template.spec.containers[0];
        expect(bridge.env.find((e: any) => e.name === "WIREGUARD_SERVER_PUBLIC_KEY")).toEqual({
            name: "WIREGUARD_SERVER_PUBLIC_KEY",
            value: "<<known after deploy>>",
        });
    });
});
