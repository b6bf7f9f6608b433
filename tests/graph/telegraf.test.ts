/**
 * Telegraf in the provider stack: its Deployment, the configuration it is given, where its
 * credentials come from, and the traffic it may send (and that its peers admit from it).
 */
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { envRef, influxdbOutput, providerTelegrafConfig } from "../../components/telegraf/config";
import { Evaluation } from "../../tools/mock-engine";
import { evaluateProvider, find, kubeObject } from "../support/stacks";

let provider: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
});

const deployment = () => kubeObject(provider, "Deployment", "telegraf").spec;
const podSpec = () => deployment().template.spec;
const container = () => podSpec().containers[0];
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });
const secretRef = (name: string, key: string) => ({ secretKeyRef: { name, key } });
const health = {
    httpGet: { path: "/", port: 8080, scheme: "HTTP" },
    initialDelaySeconds: 0,
    timeoutSeconds: 3,
};

describe("Telegraf workload", () => {
    it("is a component of its own in the provider stack", () => {
        const component = find(provider, "cdm:telegraf:Telegraf", "provider-telegraf");
        expect(component.parent).toMatch(/ProviderStack::provider$/);
    });

    it("runs one replica of the pinned image's binary as the image's telegraf user, read-only, no capabilities", () => {
        expect(deployment().replicas).toBe(1);
        const c = container();
        expect(c.image).toBe("docker.io/library/telegraf:1.39.2");
        expect(c.command).toEqual(["/usr/bin/telegraf", "--config", "/etc/telegraf/telegraf.conf"]);
        expect(c.args).toBeUndefined();
        expect(podSpec().securityContext).toMatchObject({
            runAsNonRoot: true,
            runAsUser: 999,
            runAsGroup: 999,
        });
        expect(c.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
        });
        expect(c.securityContext.capabilities.add).toBeUndefined();
        expect(c.resources).toEqual({
            requests: { cpu: "100m", memory: "128Mi" },
            limits: { cpu: "1", memory: "512Mi" },
        });
        expect(c.ports).toEqual([{ name: "health", containerPort: 8080, protocol: "TCP" }]);
    });

    it("takes its broker user and InfluxDB token from their Secrets, nothing secret as a literal", () => {
        expect(container().env).toEqual([
            { name: "RABBITMQ_USERNAME", valueFrom: secretRef("rabbitmq-telegraf-credentials", "username") },
            { name: "RABBITMQ_PASSWORD", valueFrom: secretRef("rabbitmq-telegraf-credentials", "password") },
            { name: "INFLUX_TOKEN", valueFrom: secretRef("influxdb-telegraf-token", "token") },
            { name: "GOMEMLIMIT", value: "400MiB" },
        ]);
    });

    it("is probed on outputs.health", () => {
        expect(container().readinessProbe).toEqual({ ...health, periodSeconds: 10, failureThreshold: 3 });
        expect(container().livenessProbe).toEqual({ ...health, periodSeconds: 20, failureThreshold: 3 });
    });

    it("reads the configuration rendered for the stack's RabbitMQ and InfluxDB Services, and restarts on its change", () => {
        const conf = kubeObject(provider, "ConfigMap", "telegraf-config").data;
        expect(Object.keys(conf)).toEqual(["telegraf.conf"]);
        const host = (service: string) => {
            const s = kubeObject(provider, "Service", service).metadata;
            return `${s.name}.${s.namespace}.svc.cluster.local`;
        };
        expect(conf["telegraf.conf"]).toBe(
            providerTelegrafConfig({
                brokerUrl: `amqp://${host("rabbitmq")}:5672/cdm-metrics`,
                healthPort: 8080,
                output: influxdbOutput({
                    url: `http://${host("influxdb")}:8086`,
                    token: envRef("INFLUX_TOKEN"),
                    organization: "cdm",
                    bucket: "telemetry",
                }),
            }),
        );
        expect(container().volumeMounts).toEqual([
            { name: "config", mountPath: "/etc/telegraf", readOnly: true },
        ]);
        expect(podSpec().volumes).toEqual([
            { name: "config", configMap: { name: "telegraf-config", defaultMode: 0o444 } },
        ]);
        expect(deployment().template.metadata.annotations).toEqual({
            "cdm-platform.dev/config-sha256": createHash("sha256")
                .update(conf["telegraf.conf"])
                .digest("hex"),
        });
    });
});

describe("Telegraf traffic", () => {
    it("admits no one and reaches RabbitMQ's AMQP port and InfluxDB's HTTP port only; no Service", () => {
        expect(kubeObject(provider, "NetworkPolicy", "telegraf").spec).toEqual({
            podSelector: {
                matchLabels: {
                    "app.kubernetes.io/name": "telegraf",
                    "app.kubernetes.io/instance": "cdm-provider-telegraf",
                },
            },
            policyTypes: ["Ingress", "Egress"],
            egress: [
                { to: [app("rabbitmq")], ports: [{ port: 5672, protocol: "TCP" }] },
                { to: [app("influxdb")], ports: [{ port: 8086, protocol: "TCP" }] },
            ],
        });
        expect(() => kubeObject(provider, "Service", "telegraf")).toThrow("no Service telegraf");
    });

    it("is admitted by RabbitMQ on 5672 and by InfluxDB on 8086", () => {
        expect(kubeObject(provider, "NetworkPolicy", "rabbitmq").spec.ingress).toContainEqual({
            from: [app("telemetry-gate"), app("telegraf")],
            ports: [{ port: 5672, protocol: "TCP" }],
        });
        // InfluxDB admits its clients in one rule (Grafana, Telegraf, its token Job).
        expect(kubeObject(provider, "NetworkPolicy", "influxdb").spec.ingress).toContainEqual({
            from: expect.arrayContaining([app("telegraf")]),
            ports: [{ port: 8086, protocol: "TCP" }],
        });
    });
});
