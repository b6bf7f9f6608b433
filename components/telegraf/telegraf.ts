import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { imageRef, images } from "../images";
import { influxdbApp, influxdbPort, providerOrg, telemetryBucket, tokenKey } from "../influxdb/settings";
import { AppIdentity, labelPrefix, objectMeta, StackContext } from "../k8s/context";
import { createConfigMap } from "../k8s/secret";
import { Workload } from "../k8s/workload";
import { amqpPort, rabbitmqApp, telegrafApp } from "../rabbitmq/rabbitmq";
import { envRef, healthPort, influxdbOutput, providerTelegrafConfig, providerTelegrafEnv } from "./config";

export interface TelegrafArgs {
    /** The stack Telegraf runs in (the provider's). */
    readonly context: StackContext;
    /** The metrics vhost's in-cluster AMQP URL, without credentials (`RabbitMq.amqpUrl`). */
    readonly amqpUrl: pulumi.Input<string>;
    /** The Secret with Telegraf's broker user, keys `username` and `password` (`RabbitMq.telegrafSecret`). */
    readonly rabbitmqSecret: pulumi.Input<string>;
    /** The provider InfluxDB's in-cluster URL (`InfluxDb.url`). */
    readonly influxUrl: pulumi.Input<string>;
    /** The Secret (key `token`) with the write-only token on the `telemetry` bucket. */
    readonly influxTokenSecret: pulumi.Input<string>;
}

/** Where the container reads its configuration (the ConfigMap replaces the image's directory). */
export const telegrafConfigDir = "/etc/telegraf";
/**
 * The image's `telegraf` user: a system user made by the Debian package's `useradd -r` in the
 * image (no other system user before it), so the first system uid and gid, 999.
 */
export const telegrafUid = 999;
/** 128 MiB asked for, 512 MiB at most; the Go runtime collects harder before reaching the limit. */
const resources = { cpu: "100m", memory: "128Mi", cpuLimit: "1", memoryLimit: "512Mi" };
const goMemoryLimit = "400MiB";
const identity: AppIdentity = { app: telegrafApp, component: "metrics", version: images.telegraf.tag };
const health = { http: { path: "/", port: healthPort } };

/**
 * The provider Telegraf: consumes Telegraf's queue on the provider RabbitMQ (every tenant's
 * forwarded telemetry) and writes it to the provider InfluxDB, with the configuration
 * ./config.ts renders. A Deployment of **one** replica: the quorum queue is the durable buffer,
 * so a restart delays the data and loses none (Telegraf acknowledges a message only after
 * InfluxDB has taken it), and one consumer writes thousands of messages a second, well beyond
 * what the rule chains send; a second consumer would add no availability over a pipeline whose
 * broker and InfluxDB are single instances themselves.
 *
 * It runs the binary directly as the image's `telegraf` user (the entrypoint, as root, would
 * only grant capabilities for ICMP and low ports, which this configuration does not use), with a
 * read-only root filesystem: Telegraf writes nothing. Its pod talks to RabbitMQ's AMQP port and
 * InfluxDB's HTTP port only, and admits no one (the kubelet's probes are not pod traffic).
 */
export class Telegraf extends pulumi.ComponentResource {
    constructor(name: string, args: TelegrafArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:telegraf:Telegraf", name, {}, opts);
        const { context: ctx } = args;
        const child = { parent: this };
        const env = providerTelegrafEnv;
        const configText = pulumi.all([args.amqpUrl, args.influxUrl]).apply(([brokerUrl, influxUrl]) =>
            providerTelegrafConfig({
                brokerUrl,
                healthPort,
                output: influxdbOutput({
                    url: influxUrl,
                    token: envRef(env.influxToken),
                    organization: providerOrg,
                    bucket: telemetryBucket,
                }),
            }),
        );
        const config = createConfigMap(
            `${name}-config`,
            objectMeta(ctx, identity, "telegraf-config"),
            { "telegraf.conf": configText },
            child,
        );
        const configFile = `${telegrafConfigDir}/telegraf.conf`;
        new Workload(
            `${name}-consumer`,
            {
                context: ctx,
                identity,
                kind: "Deployment",
                replicas: 1,
                // Telegraf reads its configuration at start only.
                podAnnotations: { [`${labelPrefix}/config-sha256`]: configText.apply(sha256) },
                pod: {
                    runAsUser: telegrafUid,
                    volumes: [{ name: "config", configMap: config.metadata.name }],
                    containers: [
                        {
                            name: "telegraf",
                            image: imageRef(images.telegraf, ctx.imageRegistryMirror),
                            command: ["/usr/bin/telegraf", "--config", configFile],
                            env: {
                                [env.rabbitmqUsername]: { secret: args.rabbitmqSecret, key: "username" },
                                [env.rabbitmqPassword]: { secret: args.rabbitmqSecret, key: "password" },
                                [env.influxToken]: { secret: args.influxTokenSecret, key: tokenKey },
                                GOMEMLIMIT: goMemoryLimit,
                            },
                            ports: [{ name: "health", port: healthPort }],
                            resources,
                            readiness: health,
                            liveness: { ...health, periodSeconds: 20 },
                            mounts: [{ volume: "config", path: telegrafConfigDir, readOnly: true }],
                        },
                    ],
                },
                ingress: [],
                egress: [
                    { peers: [{ app: rabbitmqApp }], ports: [{ port: amqpPort }] },
                    { peers: [{ app: influxdbApp }], ports: [{ port: influxdbPort }] },
                ],
            },
            child,
        );
        this.registerOutputs({});
    }
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}
