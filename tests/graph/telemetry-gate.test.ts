/**
 * The telemetry gate in the provider stack: the Deployment between tenants' publishers and
 * Telegraf, its broker credentials, probes and traffic.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Evaluation, generatedMarker } from "../../tools/mock-engine";
import { evaluateProvider, find, kubeObject } from "../support/stacks";

let provider: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
});

const deployment = () => kubeObject(provider, "Deployment", "telemetry-gate").spec;
const container = () => deployment().template.spec.containers[0];
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });

describe("telemetry gate workload", () => {
    it("runs two replicas of the bridge's runtime image with the gate's entry point", () => {
        expect(deployment().replicas).toBe(2);
        const bridge = kubeObject(provider, "Deployment", "bridge").spec.template.spec.containers[0];
        expect(container().image).toBe(bridge.image);
        expect(container().command).toEqual(["node", "dist/runtime/telemetry-gate/main.js"]);
        expect(container().ports).toEqual([{ name: "management", containerPort: 9467, protocol: "TCP" }]);
    });

    it("takes its broker user from its own Secret and the in-cluster AMQP URL without credentials", () => {
        const env = Object.fromEntries(
            container().env.map((e: any) => [e.name, e.value ?? e.valueFrom]),
        ) as Record<string, unknown>;
        expect(env).toEqual({
            GATE_AMQP_URL: "amqp://rabbitmq.cdm-provider.svc.cluster.local:5672/cdm-metrics",
            GATE_MANAGEMENT_PORT: "9467",
            RABBITMQ_USERNAME: {
                secretKeyRef: { name: "rabbitmq-telemetry-gate-credentials", key: "username" },
            },
            RABBITMQ_PASSWORD: {
                secretKeyRef: { name: "rabbitmq-telemetry-gate-credentials", key: "password" },
            },
        });
        const secret = find(provider, "kubernetes:core/v1:Secret", "provider-rabbitmq-gate-credentials");
        expect(secret.rawInputs.stringData).toEqual({
            secret: { username: "telemetry-gate", password: generatedMarker },
        });
        expect(secret.secretPaths).toEqual(["stringData"]);
    });

    it("is ready and live while it consumes, on its management port", () => {
        expect(container().readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: 9467 });
        expect(container().livenessProbe).toMatchObject({
            httpGet: { path: "/healthz", port: 9467 },
            periodSeconds: 20,
            failureThreshold: 6,
        });
        expect(deployment().template.spec.terminationGracePeriodSeconds).toBe(30);
    });
});

describe("telemetry gate traffic", () => {
    it("admits no one and reaches RabbitMQ's AMQP port only; no Service", () => {
        expect(kubeObject(provider, "NetworkPolicy", "telemetry-gate").spec).toEqual({
            podSelector: {
                matchLabels: {
                    "app.kubernetes.io/name": "telemetry-gate",
                    "app.kubernetes.io/instance": "cdm-provider-telemetry-gate",
                },
            },
            policyTypes: ["Ingress", "Egress"],
            egress: [{ to: [app("rabbitmq")], ports: [{ port: 5672, protocol: "TCP" }] }],
        });
        expect(() => kubeObject(provider, "Service", "telemetry-gate")).toThrow("no Service telemetry-gate");
    });
});
