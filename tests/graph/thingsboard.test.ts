/**
 * ThingsBoard in the tenant stack: the install Job before the server, tb-node and its TLS proxy,
 * their settings and Secrets, the MQTTS and HTTP endpoints, the traffic, the bootstrap Job.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { installEnv, logbackXml, tbNodeEnv, thingsboardConf } from "../../components/thingsboard/settings";
import { Evaluation, unknownMarker } from "../../tools/mock-engine";
import { evaluateTenant, find, kubeObject, ofType } from "../support/stacks";

let acme: Evaluation;

beforeAll(async () => {
    acme = await evaluateTenant();
});

const deployment = () => kubeObject(acme, "Deployment", "thingsboard");
const podSpec = () => deployment().spec.template.spec;
const container = (name: string) => podSpec().containers.find((c: { name: string }) => c.name === name);
const env = (c: { env: { name: string; value?: string; valueFrom?: unknown }[] }): Record<string, unknown> =>
    Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));
const secretRef = (name: string, key: string) => ({ secretKeyRef: { name, key } });
const pgRefs = Object.fromEntries(
    Object.entries(tbNodeEnv({ ref: (key) => ({ secret: "postgres-thingsboard", key }) })).map(([k, v]) => [
        k,
        typeof v === "object" && "key" in v ? secretRef("postgres-thingsboard", v.key) : v,
    ]),
);
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });
const ingressNginx = {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } },
};
const urnOf = (type: string, name: string) => find(acme, type, name).urn;

describe("ThingsBoard schema install", () => {
    it("completes before the server starts: the Deployment waits for the install Job", () => {
        const job = urnOf("kubernetes:batch/v1:Job", "tenant-acme-thingsboard-install");
        const server = find(
            acme,
            "kubernetes:apps/v1:Deployment",
            "tenant-acme-thingsboard-server-deployment",
        );
        expect(server.dependencies).toContain(job);
        expect(deployment().spec.template.metadata.annotations["cdm-platform.dev/schema-install-job"]).toBe(
            "thingsboard-install",
        );
        const bootstrap = find(acme, "kubernetes:batch/v1:Job", "tenant-acme-thingsboard-bootstrap");
        expect(bootstrap.dependencies).toContain(server.urn);
    });

    it("runs tb-node's image and environment with INSTALL_TB, skipped when the schema exists", () => {
        const job = kubeObject(acme, "Job", "thingsboard-install");
        const spec = job.spec.template.spec;
        expect(job.spec).toMatchObject({ backoffLimit: 4, activeDeadlineSeconds: 1800 });
        expect(spec.restartPolicy).toBe("Never");
        const [check] = spec.initContainers;
        expect(check.image).toBe("docker.io/library/postgres:17.6-alpine3.22");
        expect(check.command[2]).toContain("to_regclass('public.tb_schema_settings')");
        expect(env(check)).toEqual({
            PGHOST: secretRef("postgres-thingsboard", "host"),
            PGPORT: secretRef("postgres-thingsboard", "port"),
            PGDATABASE: secretRef("postgres-thingsboard", "database"),
            PGUSER: secretRef("postgres-thingsboard", "username"),
            PGPASSWORD: secretRef("postgres-thingsboard", "password"),
            PGSSLMODE: secretRef("postgres-thingsboard", "sslmode"),
        });
        const [install] = spec.containers;
        expect(install.image).toBe("docker.io/thingsboard/tb-node:4.3.1");
        expect(install.command[2]).toMatch(
            /^if \[ -f \/state\/installed \]; then .* exec start-tb-node\.sh$/,
        );
        expect(env(install)).toEqual({ ...pgRefs, ...installEnv });
        expect(install.env.map((e: { name: string }) => e.name)).toEqual([
            ...container("tb-node").env.map((e: { name: string }) => e.name),
            "INSTALL_TB",
            "LOAD_DEMO",
        ]);
        expect(spec.securityContext).toMatchObject({ runAsUser: 799, fsGroup: 799, runAsNonRoot: true });
        for (const c of [check, install]) {
            expect(c.securityContext).toMatchObject({
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
            });
        }
        // Not tb-node's instance: its Service and NetworkPolicy never select install pods.
        expect(job.spec.template.metadata.labels).toMatchObject({
            "app.kubernetes.io/name": "thingsboard",
            "app.kubernetes.io/instance": "cdm-tenant-acme-thingsboard-install",
        });
        expect(kubeObject(acme, "NetworkPolicy", "thingsboard-install").spec).toEqual({
            podSelector: {
                matchLabels: {
                    "app.kubernetes.io/name": "thingsboard",
                    "app.kubernetes.io/instance": "cdm-tenant-acme-thingsboard-install",
                },
            },
            policyTypes: ["Ingress", "Egress"],
            egress: [{ to: [app("postgres")], ports: [{ port: 5432, protocol: "TCP" }] }],
        });
    });
});

describe("ThingsBoard server", () => {
    it("runs one tb-node as uid 799 with a read-only root, replaced only after the old pod is gone", () => {
        expect(deployment().spec).toMatchObject({ replicas: 1, strategy: { type: "Recreate" } });
        const c = container("tb-node");
        expect(c.image).toBe("docker.io/thingsboard/tb-node:4.3.1");
        expect(env(c)).toEqual(pgRefs);
        expect(podSpec().securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 799, fsGroup: 799 });
        for (const name of ["tb-node", "tls-proxy"]) {
            expect(container(name).securityContext).toMatchObject({
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
            });
        }
        expect(c.resources).toEqual({
            requests: { cpu: "500m", memory: "2Gi" },
            limits: { cpu: "2", memory: "2560Mi" },
        });
        expect(c.volumeMounts).toEqual([
            { name: "config", mountPath: "/config", readOnly: true },
            { name: "mqtt-tls", mountPath: "/ssl-config", readOnly: true },
            { name: "scratch-tb-node-tmp", mountPath: "/tmp" },
            { name: "scratch-tb-node-var-log-thingsboard", mountPath: "/var/log/thingsboard" },
        ]);
        expect(c.ports).toEqual([
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { name: "mqtts", containerPort: 8883, protocol: "TCP" },
        ]);
    });

    it("starts within ten minutes under a startup probe instead of a fixed initial delay", () => {
        const c = container("tb-node");
        const get = { path: "/login", port: 8080, scheme: "HTTP" };
        expect(c.startupProbe).toEqual({
            httpGet: get,
            initialDelaySeconds: 0,
            periodSeconds: 10,
            timeoutSeconds: 3,
            failureThreshold: 60,
        });
        expect(c.readinessProbe).toMatchObject({ httpGet: get, initialDelaySeconds: 0, timeoutSeconds: 5 });
        expect(c.livenessProbe).toMatchObject({ httpGet: get, periodSeconds: 20, failureThreshold: 6 });
        const health = { path: "/healthz", port: 9466, scheme: "HTTP" };
        expect(container("tls-proxy").readinessProbe).toMatchObject({ httpGet: health });
        expect(container("tls-proxy").livenessProbe).toMatchObject({ httpGet: health });
    });

    it("keeps configuration in ConfigMaps without secrets, credentials in Secrets only", () => {
        expect(kubeObject(acme, "ConfigMap", "thingsboard-config").data).toEqual({
            "thingsboard.conf": thingsboardConf(2560),
            "logback.xml": logbackXml(),
        });
        for (const cm of ofType(acme, "kubernetes:core/v1:ConfigMap").filter((r) =>
            r.name.includes("thingsboard"),
        )) {
            expect(cm.secretPaths, cm.name).toEqual([]);
        }
        const admin = kubeObject(acme, "Secret", "thingsboard-admin");
        expect(Object.keys(admin.stringData).sort()).toEqual([
            "sysadmin-email",
            "sysadmin-password",
            "tenant-admin-email",
            "tenant-admin-password",
        ]);
        expect(Object.values(admin.stringData).every((v) => v === "<<secret>>")).toBe(true);
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-thingsboard-admin-credentials").rawInputs
                .stringData,
        ).toEqual({
            secret: {
                "sysadmin-email": "sysadmin@thingsboard.org",
                "sysadmin-password": "<<generated at deploy>>",
                "tenant-admin-email": "admin@things.acme.cdm.example.com",
                "tenant-admin-password": "<<generated at deploy>>",
            },
        });
        for (const who of ["sysadmin", "tenant-admin"]) {
            expect(
                find(
                    acme,
                    "random:index/randomPassword:RandomPassword",
                    `tenant-acme-thingsboard-${who}-password`,
                ).inputs,
            ).toEqual({ length: 32, special: false });
        }
    });

    it("wraps the rule chain's connections in TLS: AMQPS against the platform root, the bridge by its name", () => {
        const proxy = container("tls-proxy");
        expect(proxy.image).toBe("ghcr.io/cdm-platform/bridge:0.1.0");
        expect(proxy.command).toEqual(["node", "dist/runtime/tls-client-proxy/main.js"]);
        expect(JSON.parse(env(proxy).TLS_PROXY_ROUTES as string)).toEqual([
            {
                listenPort: 5672,
                host: "amqp.cdm.example.com",
                port: 5671,
                caFile: "/etc/tls-proxy/platform-root.crt",
            },
            {
                listenPort: 18443,
                host: "bridge.cdm-tenant-acme.svc.cluster.local",
                port: 8443,
                serverName: "api.acme.cdm.example.com",
            },
        ]);
        expect(proxy.volumeMounts).toEqual([
            { name: "proxy-ca", mountPath: "/etc/tls-proxy", readOnly: true },
        ]);
        expect(kubeObject(acme, "ConfigMap", "thingsboard-proxy-ca").data).toEqual({
            "platform-root.crt": unknownMarker,
        });
    });
});

describe("ThingsBoard endpoints and traffic", () => {
    it("publishes MQTTS at layer 4 with a Sub-CA certificate for the MQTT host", () => {
        const mqtts = kubeObject(acme, "Service", "thingsboard-mqtts").spec;
        expect(mqtts).toEqual({
            type: "LoadBalancer",
            externalTrafficPolicy: "Local",
            selector: {
                "app.kubernetes.io/name": "thingsboard",
                "app.kubernetes.io/instance": "cdm-tenant-acme-thingsboard",
            },
            ports: [{ name: "mqtts", port: 8883, targetPort: 8883, protocol: "TCP" }],
        });
        const request = find(
            acme,
            "tls:index/certRequest:CertRequest",
            "tenant-acme-thingsboard-mqtt-tls-request",
        );
        expect(request.inputs).toMatchObject({
            subject: { commonName: "mqtt.acme.cdm.example.com" },
            dnsNames: ["mqtt.acme.cdm.example.com"],
        });
        const secret = kubeObject(acme, "Secret", "thingsboard-mqtt-tls");
        expect(secret.type).toBe("kubernetes.io/tls");
        // Certificate and key are one secret value: nothing of them shows in the plan.
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-thingsboard-mqtt-tls-secret").secretPaths,
        ).toEqual(["stringData"]);
        expect(podSpec().volumes).toContainEqual({
            name: "mqtt-tls",
            secret: { secretName: "thingsboard-mqtt-tls", defaultMode: 0o440 },
        });
    });

    it("serves the UI at the things origin through the ingress, WebSockets kept open", () => {
        expect(kubeObject(acme, "Service", "thingsboard").spec).toMatchObject({
            type: "ClusterIP",
            ports: [{ name: "http", port: 8080, targetPort: 8080, protocol: "TCP" }],
        });
        const ingress = kubeObject(acme, "Ingress", "thingsboard");
        expect(ingress.metadata.annotations).toMatchObject({
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
        });
        expect(ingress.spec.tls).toEqual([
            { hosts: ["things.acme.cdm.example.com"], secretName: "thingsboard-tls" },
        ]);
        expect(ingress.spec.rules[0].http.paths).toEqual([
            {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "thingsboard", port: { number: 8080 } } },
            },
        ]);
    });

    it("admits the ingress and the bootstrap on 8080, devices on 8883; reaches only its peers", () => {
        const { ingress, egress } = kubeObject(acme, "NetworkPolicy", "thingsboard").spec;
        expect(ingress).toEqual([
            { from: [ingressNginx, app("thingsboard-bootstrap")], ports: [{ port: 8080, protocol: "TCP" }] },
            { from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ port: 8883, protocol: "TCP" }] },
        ]);
        expect(egress).toEqual([
            { to: [app("postgres")], ports: [{ port: 5432, protocol: "TCP" }] },
            { to: [app("keycloak")], ports: [{ port: 8080, protocol: "TCP" }] },
            { to: [app("bridge")], ports: [{ port: 8443, protocol: "TCP" }] },
            { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ port: 5671, protocol: "TCP" }] },
        ]);
        // The peers admit it back.
        const admits = (policy: string) =>
            kubeObject(acme, "NetworkPolicy", policy).spec.ingress.some((rule: { from?: unknown[] }) =>
                (rule.from ?? []).some((p) => JSON.stringify(p) === JSON.stringify(app("thingsboard"))),
            );
        expect(["postgres", "keycloak", "bridge"].map(admits)).toEqual([true, true, true]);
    });
});

describe("ThingsBoard bootstrap Job", () => {
    it("is given credentials as Secret references only and the proxy's loopback addresses", () => {
        const job = kubeObject(acme, "Job", "thingsboard-bootstrap");
        const [c] = job.spec.template.spec.containers;
        expect(c.command).toEqual(["node", "dist/runtime/thingsboard-bootstrap/main.js"]);
        expect(env(c)).toEqual({
            TB_URL: "http://thingsboard.cdm-tenant-acme.svc.cluster.local:8080",
            TB_SYSADMIN_PASSWORD: secretRef("thingsboard-admin", "sysadmin-password"),
            TB_TENANT_TITLE: "ACME Corporation",
            TB_TENANT_ADMIN_EMAIL: secretRef("thingsboard-admin", "tenant-admin-email"),
            TB_TENANT_ADMIN_PASSWORD: secretRef("thingsboard-admin", "tenant-admin-password"),
            TENANT_ID: "acme",
            SUB_CA_PEM: unknownMarker,
            FORWARDED_METRICS: "cpu_usage,mem_free_mb",
            AMQP_HOST: "127.0.0.1",
            AMQP_PORT: "5672",
            AMQP_VHOST: "cdm-metrics",
            AMQP_EXCHANGE: "cdm.telemetry",
            AMQP_USERNAME: secretRef("thingsboard-amqp-publisher", "username"),
            AMQP_PASSWORD: secretRef("thingsboard-amqp-publisher", "password"),
            CONNECT_WEBHOOK_URL: "http://127.0.0.1:18443/webhooks/thingsboard/connect",
            THINGSBOARD_WEBHOOK_TOKEN: secretRef("bridge-service-tokens", "thingsboard-webhook-token"),
            OAUTH2_ISSUER: "https://auth.acme.cdm.example.com/auth/realms/acme",
            OAUTH2_INTERNAL_ISSUER: "http://keycloak.cdm-tenant-acme.svc.cluster.local:8080/auth/realms/acme",
            OAUTH2_CLIENT_ID: "thingsboard",
            OAUTH2_CLIENT_SECRET: secretRef("thingsboard-oauth2", "client-secret"),
            OAUTH2_MAPPER_URL: "http://127.0.0.1:18443/webhooks/thingsboard/login",
            THINGS_ORIGIN: "https://things.acme.cdm.example.com",
        });
        expect(job.spec.template.spec.securityContext).toMatchObject({
            runAsUser: 10001,
            runAsNonRoot: true,
        });
        expect(find(acme, "kubernetes:core/v1:Secret", "tenant-acme-thingsboard-oauth2").secretPaths).toEqual(
            ["stringData"],
        );
        expect(kubeObject(acme, "NetworkPolicy", "thingsboard-bootstrap").spec).toEqual({
            podSelector: {
                matchLabels: {
                    "app.kubernetes.io/name": "thingsboard-bootstrap",
                    "app.kubernetes.io/instance": "cdm-tenant-acme-thingsboard-bootstrap",
                },
            },
            policyTypes: ["Ingress", "Egress"],
            egress: [{ to: [app("thingsboard")], ports: [{ port: 8080, protocol: "TCP" }] }],
        });
    });

    it("forwards the configured metrics and refuses a bad list by its key", async () => {
        const stack = await evaluateTenant({ "cdm:forwardedMetrics": "cpu_usage, disk_free_mb" });
        const [c] = kubeObject(stack, "Job", "thingsboard-bootstrap").spec.template.spec.containers;
        expect(env(c).FORWARDED_METRICS).toBe("cpu_usage,disk_free_mb");
        await expect(evaluateTenant({ "cdm:forwardedMetrics": "cpu_usage,ts,cpu_usage" })).rejects.toThrow(
            /cdm:forwardedMetrics: "ts" is a field the chain adds itself[\s\S]*cdm:forwardedMetrics: repeats cpu_usage/,
        );
    });
});
