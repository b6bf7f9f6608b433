import { describe, expect, it } from "vitest";
import { providerEndpoints, tenantEndpoints } from "../../components/endpoints";
import { imageRef, images } from "../../components/images";
import {
    appLabels,
    boundedLabel,
    labelValue,
    objectMeta,
    selectorLabels,
    StackContext,
} from "../../components/k8s/context";
import { limitRangeSpec, namespaceLabels, quotaSpec } from "../../components/k8s/namespace";
import { ingressSpec, serviceSpec } from "../../components/k8s/service";

const ctx: StackContext = {
    namespace: "cdm-tenant-acme",
    podSecurity: "restricted",
    partOf: "cdm-tenant-acme",
    tenantId: "acme",
    skipAwait: true,
    ingress: { className: "nginx", controllerNamespace: "ingress-nginx", tlsIssuer: "letsencrypt" },
};

describe("labels and metadata", () => {
    it("labels with the recommended app.kubernetes.io set and the tenant", () => {
        const id = { app: "postgres", component: "database", version: "17.6-alpine3.22" };
        expect(selectorLabels(ctx, id)).toEqual({
            "app.kubernetes.io/name": "postgres",
            "app.kubernetes.io/instance": "cdm-tenant-acme-postgres",
        });
        expect(appLabels(ctx, id)).toEqual({
            "app.kubernetes.io/name": "postgres",
            "app.kubernetes.io/instance": "cdm-tenant-acme-postgres",
            "app.kubernetes.io/component": "database",
            "app.kubernetes.io/part-of": "cdm-tenant-acme",
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/version": "17.6-alpine3.22",
            "cdm-platform.dev/tenant": "acme",
        });
        expect(objectMeta(ctx, id, "postgres").annotations).toEqual({ "pulumi.com/skipAwait": "true" });
        expect(objectMeta({ ...ctx, skipAwait: false }, id, "postgres").annotations).toBeUndefined();
    });

    it("keeps the instance label within 63 characters for long tenant ids", () => {
        const long = { ...ctx, partOf: `cdm-tenant-${"a".repeat(40)}` };
        const instance = selectorLabels(long, { app: "postgres-provision", component: "database" })[
            "app.kubernetes.io/instance"
        ];
        expect(instance).toHaveLength(63);
        expect(instance).toMatch(/^cdm-tenant-a{40}-po-[0-9a-f]{8}$/);
        expect(boundedLabel("short")).toBe("short");
    });

    it("makes label values valid", () => {
        expect(labelValue("1.2.3+build/7")).toBe("1.2.3_build_7");
        expect(labelValue(`-${"a".repeat(70)}`)).toBe("a".repeat(62));
    });
});

describe("namespace", () => {
    it("enforces the Pod Security level and labels the tenant", () => {
        expect(
            namespaceLabels({ partOf: "cdm-tenant-acme", tenantId: "acme", podSecurity: "restricted" }),
        ).toEqual({
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/part-of": "cdm-tenant-acme",
            "app.kubernetes.io/managed-by": "pulumi",
            "cdm-platform.dev/tenant": "acme",
        });
    });

    it("limits what a tenant may consume", () => {
        expect(quotaSpec({ cpu: "16", memory: "32Gi", storage: "200Gi" }).hard).toEqual({
            "limits.cpu": "16",
            "limits.memory": "32Gi",
            "requests.storage": "200Gi",
            persistentvolumeclaims: "20",
            "services.loadbalancers": "4",
        });
        expect(limitRangeSpec().limits[0].type).toBe("Container");
    });
});

describe("services and ingress", () => {
    const selector = { "app.kubernetes.io/name": "web" };

    it("renders ClusterIP, headless and LoadBalancer services", () => {
        expect(serviceSpec(selector, [{ name: "http", port: 80, targetPort: "http" }])).toEqual({
            type: "ClusterIP",
            selector,
            ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
        });
        expect(serviceSpec(selector, [{ name: "db", port: 5432 }], "Headless")).toMatchObject({
            type: "ClusterIP",
            clusterIP: "None",
            publishNotReadyAddresses: true,
        });
        expect(serviceSpec(selector, [{ name: "mqtts", port: 8883 }], "LoadBalancer")).toMatchObject({
            type: "LoadBalancer",
            externalTrafficPolicy: "Local",
        });
    });

    it("renders an ingress with TLS for every host", () => {
        const rendered = ingressSpec(ctx, "things", [
            { host: "things.acme.cdm.example.com", path: "/", service: "thingsboard", port: 8080 },
            { host: "things.acme.cdm.example.com", path: "/api/ws", service: "thingsboard", port: 8080 },
        ]);
        expect(rendered.annotations).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt" });
        expect(rendered.spec.tls).toEqual([
            { hosts: ["things.acme.cdm.example.com"], secretName: "things-tls" },
        ]);
        expect(rendered.spec.rules[0].http.paths).toHaveLength(2);
        expect(rendered.spec.rules[0].http.paths[1]).toEqual({
            path: "/api/ws",
            pathType: "Prefix",
            backend: { service: { name: "thingsboard", port: { number: 8080 } } },
        });
        const noIssuer = { ingress: { ...ctx.ingress, tlsIssuer: undefined } };
        const route = { host: "h.example.com", path: "/", service: "s", port: 1 };
        expect(ingressSpec(noIssuer, "x", [route]).annotations).toEqual({});
        expect(() => ingressSpec(ctx, "empty", [])).toThrow("Ingress empty needs at least one route");
    });
});

describe("images", () => {
    it("pins every image to an exact tag", () => {
        for (const [name, image] of Object.entries(images)) {
            expect(image.tag, name).toMatch(/^[0-9]+\.[0-9]+/);
            expect(image.repository, name).toMatch(/^[a-z0-9.-]+\.[a-z]+\//);
        }
    });

    it("rewrites the registry for a mirror", () => {
        expect(imageRef(images.postgres)).toBe("docker.io/library/postgres:17.6-alpine3.22");
        expect(imageRef(images.postgres, "mirror.example.com:5000")).toBe(
            "mirror.example.com:5000/library/postgres:17.6-alpine3.22",
        );
    });
});

describe("endpoints", () => {
    it("derives provider and tenant addresses from the domain", () => {
        expect(providerEndpoints("cdm.example.com")).toEqual({
            identity: "https://auth.cdm.example.com/auth/realms/platform",
            bridge: "https://api.cdm.example.com",
            amqp: "amqps://amqp.cdm.example.com:5671",
            grafana: "https://grafana.cdm.example.com",
        });
        expect(tenantEndpoints("cdm.example.com", "acme", 51820)).toMatchObject({
            identity: "https://auth.acme.cdm.example.com/auth/realms/acme",
            mqtt: "mqtts://mqtt.acme.cdm.example.com:8883",
            terminal: "wss://terminal.acme.cdm.example.com/terminal",
            vpn: "vpn.acme.cdm.example.com:51820",
        });
    });
});
