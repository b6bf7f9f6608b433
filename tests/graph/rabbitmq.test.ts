/**
 * RabbitMQ in the provider stack: the StatefulSet, its configuration, definitions and Secrets,
 * its server certificate, its Services and traffic, and the provider bridge's access to it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { metricsBrokerDefinitions, renderDefinitions } from "../../components/rabbitmq/definitions";
import { rabbitmqConf } from "../../components/rabbitmq/rabbitmq";
import { Evaluation, generatedMarker } from "../../tools/mock-engine";
import { evaluateProvider, find, kubeObject } from "../support/stacks";

let provider: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
});

const statefulSet = () => kubeObject(provider, "StatefulSet", "rabbitmq").spec;
const podSpec = () => statefulSet().template.spec;
const container = () => podSpec().containers[0];
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });
const rawSecret = (resource: string) =>
    find(provider, "kubernetes:core/v1:Secret", `provider-rabbitmq-${resource}`).rawInputs.stringData;
const exec = (command: string) => ({ exec: { command: ["rabbitmq-diagnostics", "-q", command] } });

describe("RabbitMQ workload", () => {
    it("runs one replica of the pinned 4.3 management image as uid 999 with a read-only root", () => {
        const sts = statefulSet();
        expect(sts.replicas).toBe(1);
        const c = container();
        expect(c.image).toBe("docker.io/library/rabbitmq:4.3.4-management");
        expect(c.command).toBeUndefined();
        // Everything it needs is in files; no credential passes through the environment.
        expect(c.env).toBeUndefined();
        expect(c.ports).toEqual([
            { name: "amqp", containerPort: 5672, protocol: "TCP" },
            { name: "amqps", containerPort: 5671, protocol: "TCP" },
            { name: "management", containerPort: 15672, protocol: "TCP" },
        ]);
        expect(podSpec().securityContext).toMatchObject({
            runAsNonRoot: true,
            runAsUser: 999,
            runAsGroup: 999,
            fsGroup: 999,
        });
        expect(c.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
        });
        expect(podSpec().terminationGracePeriodSeconds).toBe(60);
        expect(c.resources).toEqual({
            requests: { cpu: "250m", memory: "1Gi" },
            limits: { cpu: "2", memory: "2Gi" },
        });
    });

    it("keeps its data on a 10 GiB volume and reads configuration, definitions and TLS from their objects", () => {
        expect(statefulSet().volumeClaimTemplates).toEqual([
            {
                metadata: {
                    name: "data",
                    labels: {
                        "app.kubernetes.io/name": "rabbitmq",
                        "app.kubernetes.io/instance": "cdm-provider-rabbitmq",
                    },
                },
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } },
            },
        ]);
        expect(container().volumeMounts).toEqual([
            { name: "data", mountPath: "/var/lib/rabbitmq" },
            { name: "config", mountPath: "/etc/rabbitmq/conf.d", readOnly: true },
            { name: "definitions", mountPath: "/etc/rabbitmq/definitions", readOnly: true },
            { name: "tls", mountPath: "/etc/rabbitmq/tls", readOnly: true },
            { name: "scratch-rabbitmq-tmp", mountPath: "/tmp" },
            { name: "scratch-rabbitmq-var-log-rabbitmq", mountPath: "/var/log/rabbitmq" },
        ]);
        expect(podSpec().volumes).toEqual([
            { name: "config", configMap: { name: "rabbitmq-config", defaultMode: 0o444 } },
            { name: "definitions", secret: { secretName: "rabbitmq-definitions", defaultMode: 0o440 } },
            { name: "tls", secret: { secretName: "rabbitmq-tls", defaultMode: 0o440 } },
            { name: "scratch-rabbitmq-tmp", emptyDir: { sizeLimit: "256Mi" } },
            { name: "scratch-rabbitmq-var-log-rabbitmq", emptyDir: { sizeLimit: "256Mi" } },
        ]);
        // A new configuration, definitions or certificate restarts the node, which reads them at boot.
        expect(Object.keys(statefulSet().template.metadata.annotations)).toEqual([
            "cdm-platform.dev/config-sha256",
        ]);
    });

    it("is probed with rabbitmq-diagnostics: ping to live, listeners to be ready", () => {
        const c = container();
        expect(c.startupProbe).toEqual({
            ...exec("ping"),
            initialDelaySeconds: 0,
            periodSeconds: 10,
            timeoutSeconds: 20,
            failureThreshold: 60,
        });
        expect(c.readinessProbe).toEqual({
            ...exec("check_port_connectivity"),
            initialDelaySeconds: 0,
            periodSeconds: 30,
            timeoutSeconds: 20,
            failureThreshold: 3,
        });
        expect(c.livenessProbe).toEqual({
            ...exec("ping"),
            initialDelaySeconds: 0,
            periodSeconds: 30,
            timeoutSeconds: 20,
            failureThreshold: 6,
        });
    });

    it("configures AMQP, AMQPS with the mounted certificate, the management API and the definitions file", () => {
        const conf = kubeObject(provider, "ConfigMap", "rabbitmq-config").data;
        expect(Object.keys(conf)).toEqual(["10-cdm.conf"]);
        expect(conf["10-cdm.conf"]).toBe(rabbitmqConf());
        expect(conf["10-cdm.conf"].split("\n")).toEqual([
            "listeners.tcp.default = 5672",
            "listeners.ssl.default = 5671",
            "ssl_options.certfile = /etc/rabbitmq/tls/tls.crt",
            "ssl_options.keyfile = /etc/rabbitmq/tls/tls.key",
            "ssl_options.cacertfile = /etc/rabbitmq/tls/ca.crt",
            "ssl_options.verify = verify_none",
            "ssl_options.fail_if_no_peer_cert = false",
            "ssl_options.versions.1 = tlsv1.3",
            "ssl_options.versions.2 = tlsv1.2",
            "management.tcp.port = 15672",
            "auth_mechanisms.1 = PLAIN",
            "auth_mechanisms.2 = AMQPLAIN",
            "definitions.import_backend = local_filesystem",
            "definitions.local.path = /etc/rabbitmq/definitions/definitions.json",
            "vm_memory_high_watermark.absolute = 1073741824",
            "disk_free_limit.absolute = 2147483648",
            "log.console = true",
            "log.console.level = info",
            "log.file = false",
            "",
        ]);
    });
});

describe("RabbitMQ credentials", () => {
    it("generates the bridge's and Telegraf's passwords and keeps them in Secrets only", () => {
        for (const user of ["bridge", "telegraf"]) {
            expect(
                find(
                    provider,
                    "random:index/randomPassword:RandomPassword",
                    `provider-rabbitmq-${user}-password`,
                ).inputs,
            ).toEqual({ length: 32, special: false });
        }
        expect(rawSecret("bridge-credentials")).toEqual({
            secret: { username: "cdm-bridge", password: generatedMarker },
        });
        expect(rawSecret("telegraf-credentials")).toEqual({
            secret: { username: "telegraf", password: generatedMarker },
        });
        const keys = (name: string) => Object.keys(kubeObject(provider, "Secret", name).stringData).sort();
        expect(keys("rabbitmq-bridge-credentials")).toEqual(["password", "username"]);
        expect(keys("rabbitmq-telegraf-credentials")).toEqual(["password", "username"]);
        expect(keys("rabbitmq-definitions")).toEqual(["definitions.json"]);
        // The certificate exists only after deployment, so a preview knows none of its keys.
        expect(kubeObject(provider, "Secret", "rabbitmq-tls").stringData).toBe("<<secret>>");
        for (const name of [
            "rabbitmq-bridge-credentials",
            "rabbitmq-telegraf-credentials",
            "rabbitmq-definitions",
        ]) {
            const secret = kubeObject(provider, "Secret", name);
            expect(secret.metadata.labels["app.kubernetes.io/name"], name).toBe("rabbitmq");
            expect(
                Object.values(secret.stringData).every((v) => v === "<<secret>>"),
                name,
            ).toBe(true);
        }
    });

    it("loads the definitions rendered from the generated passwords, as hashes, from a Secret", () => {
        const definitions = rawSecret("definitions").secret["definitions.json"];
        expect(definitions).toBe(
            renderDefinitions(
                metricsBrokerDefinitions({
                    bridge: generatedMarker,
                    gate: generatedMarker,
                    telegraf: generatedMarker,
                }),
            ),
        );
        expect(definitions).not.toContain(generatedMarker);
    });

    it("gives the provider bridge the management API user and URL it reads, and nothing else of RabbitMQ", () => {
        const bridge = kubeObject(provider, "Deployment", "bridge").spec.template.spec.containers[0];
        const env = Object.fromEntries(
            bridge.env.map((e: any) => [e.name, e.value ?? e.valueFrom]),
        ) as Record<string, any>;
        expect(env.RABBITMQ_USERNAME).toEqual({
            secretKeyRef: { name: "rabbitmq-bridge-credentials", key: "username" },
        });
        expect(env.RABBITMQ_PASSWORD).toEqual({
            secretKeyRef: { name: "rabbitmq-bridge-credentials", key: "password" },
        });
        const service = kubeObject(provider, "Service", "rabbitmq");
        const management = service.spec.ports.find((p: any) => p.name === "management");
        expect(env.RABBITMQ_MGMT_URL).toBe(
            `http://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${management.port}`,
        );
        expect(kubeObject(provider, "NetworkPolicy", "bridge").spec.egress).toContainEqual({
            to: [app("rabbitmq")],
            ports: [{ port: 15672, protocol: "TCP" }],
        });
    });
});

describe("RabbitMQ server certificate", () => {
    it("is issued by the platform intermediate for the public AMQP host, for TLS servers only", () => {
        const request = find(provider, "tls:index/certRequest:CertRequest", "provider-rabbitmq-tls-request");
        expect(request.inputs).toEqual({
            privateKeyPem: "<<secret>>",
            subject: { commonName: "amqp.cdm.example.com" },
            dnsNames: ["amqp.cdm.example.com"],
        });
        const certificate = find(
            provider,
            "tls:index/locallySignedCert:LocallySignedCert",
            "provider-rabbitmq-tls-certificate",
        );
        expect(certificate.inputs).toEqual({
            certRequestPem: "<<known after deploy>>",
            caCertPem: "<<known after deploy>>",
            caPrivateKeyPem: "<<secret>>",
            validityPeriodHours: 8760,
            earlyRenewalHours: 720,
            allowedUses: ["digital_signature", "server_auth"],
            setSubjectKeyId: true,
        });
        expect(certificate.secretPaths).toEqual(["caPrivateKeyPem"]);
        expect(find(provider, "tls:index/privateKey:PrivateKey", "provider-rabbitmq-tls-key").inputs).toEqual(
            { algorithm: "ECDSA", ecdsaCurve: "P256" },
        );
    });
});

describe("RabbitMQ traffic", () => {
    it("serves AMQP and the management API in the cluster, AMQPS on a LoadBalancer that keeps client addresses", () => {
        expect(kubeObject(provider, "Service", "rabbitmq").spec).toEqual({
            type: "ClusterIP",
            selector: {
                "app.kubernetes.io/name": "rabbitmq",
                "app.kubernetes.io/instance": "cdm-provider-rabbitmq",
            },
            ports: [
                { name: "amqp", port: 5672, targetPort: 5672, protocol: "TCP" },
                { name: "management", port: 15672, targetPort: 15672, protocol: "TCP" },
            ],
        });
        expect(kubeObject(provider, "Service", "rabbitmq-amqps").spec).toEqual({
            type: "LoadBalancer",
            externalTrafficPolicy: "Local",
            selector: {
                "app.kubernetes.io/name": "rabbitmq",
                "app.kubernetes.io/instance": "cdm-provider-rabbitmq",
            },
            ports: [{ name: "amqps", port: 5671, targetPort: 5671, protocol: "TCP" }],
        });
    });

    it("admits the gate and Telegraf on AMQP, the bridge on the management API, anyone on AMQPS; reaches nothing", () => {
        const { ingress, egress } = kubeObject(provider, "NetworkPolicy", "rabbitmq").spec;
        expect({ ingress, egress }).toEqual({
            egress: undefined,
            ingress: [
                { from: [app("telemetry-gate"), app("telegraf")], ports: [{ port: 5672, protocol: "TCP" }] },
                { from: [app("bridge")], ports: [{ port: 15672, protocol: "TCP" }] },
                { from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ port: 5671, protocol: "TCP" }] },
            ],
        });
    });
});
