import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, StackContext } from "../k8s/context";
import { Workload } from "../k8s/workload";
import { amqpPort, rabbitmqApp, telemetryGateApp } from "./rabbitmq";

export interface TelemetryGateArgs {
    /** The stack the gate runs in (the provider's). */
    readonly context: StackContext;
    /** The runtime image (the bridge's: it carries every runtime service). */
    readonly image: pulumi.Input<string>;
    /** The metrics vhost's in-cluster AMQP URL, without credentials (`RabbitMq.amqpUrl`). */
    readonly amqpUrl: pulumi.Input<string>;
    /** The Secret with the gate's broker user, keys `username` and `password` (`RabbitMq.gateSecret`). */
    readonly rabbitmqSecret: pulumi.Input<string>;
}

/** Health, readiness and metrics; never published. */
export const telemetryGateManagementPort = 9467;
/**
 * Two replicas, competing consumers of the intake queue: one may restart or move while the other
 * keeps the telemetry flowing (order does not matter, every point carries its time).
 */
export const telemetryGateReplicas = 2;
const identity: AppIdentity = { app: telemetryGateApp, component: "metrics" };
const resources = { cpu: "50m", memory: "96Mi", cpuLimit: "1", memoryLimit: "256Mi" };

/**
 * The telemetry gate (runtime/telemetry-gate): between tenants' publishers and Telegraf on the
 * provider broker, it forwards a message only when its body names the tenant and device its
 * routing key names, the key RabbitMQ's topic permissions bind to the publisher. Without it a
 * tenant that edits its rule chain could write points under another tenant's tag in the
 * provider's bucket. It holds no state (the queues are the buffer) and needs no privilege; its
 * pod talks to RabbitMQ's AMQP port only and admits no one.
 */
export class TelemetryGate extends pulumi.ComponentResource {
    constructor(name: string, args: TelemetryGateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:rabbitmq:TelemetryGate", name, {}, opts);
        const management = (path: string) => ({ http: { path, port: telemetryGateManagementPort } });
        new Workload(
            `${name}-consumer`,
            {
                context: args.context,
                identity,
                kind: "Deployment",
                replicas: telemetryGateReplicas,
                pod: {
                    // Draining forwards what is in flight: a second or two.
                    terminationGracePeriodSeconds: 30,
                    containers: [
                        {
                            name: telemetryGateApp,
                            image: args.image,
                            command: ["node", "dist/runtime/telemetry-gate/main.js"],
                            env: {
                                GATE_AMQP_URL: args.amqpUrl,
                                GATE_MANAGEMENT_PORT: String(telemetryGateManagementPort),
                                RABBITMQ_USERNAME: { secret: args.rabbitmqSecret, key: "username" },
                                RABBITMQ_PASSWORD: { secret: args.rabbitmqSecret, key: "password" },
                            },
                            ports: [{ name: "management", port: telemetryGateManagementPort }],
                            resources,
                            readiness: management("/readyz"),
                            liveness: { ...management("/healthz"), periodSeconds: 20, failureThreshold: 6 },
                        },
                    ],
                },
                ingress: [],
                egress: [{ peers: [{ app: rabbitmqApp }], ports: [{ port: amqpPort }] }],
            },
            { parent: this },
        );
        this.registerOutputs({});
    }
}
