import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { createHash } from "node:crypto";
import { metricsVhost } from "../../runtime/shared/onboarding";
import { bridgeApp, rabbitmqCredentialsSecret, rabbitmqManagementService } from "../bridge/env";
import { imageRef, images } from "../images";
import { AppIdentity, labelPrefix, objectMeta, selectorLabels, StackContext } from "../k8s/context";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { serviceSpec } from "../k8s/service";
import { Workload } from "../k8s/workload";
import {
    metricsBrokerDefinitions,
    rabbitmqUsers,
    RabbitmqUserName,
    renderDefinitions,
    telegrafQueueLimits,
} from "./definitions";

export const rabbitmqApp = rabbitmqManagementService.app;
/** Plain AMQP, inside the namespace only: the telemetry gate and Telegraf consume here. */
export const amqpPort = 5672;
/** AMQP over TLS, the port tenants publish to through the LoadBalancer. */
export const amqpsPort = 5671;
/** The management API (HTTP), for the provider bridge only. */
export const managementPort = rabbitmqManagementService.port;
/** The app label of the provider Telegraf, one of the two pods that may use plain AMQP. */
export const telegrafApp = "telegraf";
/** The app label of the telemetry gate, the other. */
export const telemetryGateApp = "telemetry-gate";
/** The Secret with Telegraf's broker credentials (`username`, `password`), for the Telegraf component. */
export const telegrafCredentialsSecret = "rabbitmq-telegraf-credentials";
/** The Secret with the gate's broker credentials (`username`, `password`), for the TelemetryGate component. */
export const gateCredentialsSecret = "rabbitmq-telemetry-gate-credentials";
/** The LoadBalancer Service tenants' AMQPS traffic arrives at. */
export const amqpsServiceName = "rabbitmq-amqps";

/** Where the container reads what the component gives it. */
export const rabbitmqPaths = {
    data: "/var/lib/rabbitmq",
    /** The ConfigMap replaces the image's conf.d (its defaults are restated in rabbitmqConf). */
    config: "/etc/rabbitmq/conf.d",
    definitions: "/etc/rabbitmq/definitions",
    tls: "/etc/rabbitmq/tls",
} as const;

const gib = 1024 ** 3;
/**
 * The data volume holds Telegraf's queue at its byte limit, the quorum log's write-ahead log
 * (512 MiB at most by default) and segments not yet compacted (about the queue's size again),
 * the metadata store, and the free-space reserve below; 10 GiB leaves room for all of it.
 */
export const dataVolumeSize = "10Gi";
/** Below this much free space RabbitMQ blocks publishers (its disk alarm) instead of failing. */
export const diskFreeLimitBytes = 2 * gib;
/**
 * The memory RabbitMQ may use before it throttles publishers: half the container's limit, which
 * leaves room for garbage collection peaks and for the probes' CLI, a VM of its own.
 */
export const memoryHighWatermarkBytes = 1 * gib;
const resources = { cpu: "250m", memory: "1Gi", cpuLimit: "2", memoryLimit: "2Gi" };
/** uid and gid of the image's `rabbitmq` user. */
const rabbitmqUid = 999;
/** The server certificate's lifetime, and when `pulumi up` renews it (after a refresh). */
const certificateHours = { validity: 365 * 24, earlyRenewal: 30 * 24 };

const identity: AppIdentity = { app: rabbitmqApp, component: "messaging", version: images.rabbitmq.tag };

/**
 * The broker's configuration file (conf.d/10-cdm.conf). Listeners: AMQP on 5672 for Telegraf,
 * AMQPS on 5671 for tenants (server-authenticated TLS 1.2/1.3; tenants authenticate with their
 * publisher's password, not a client certificate), the management API on 15672. Definitions
 * from the Secret at every boot: users and policies are updated in place, nothing is deleted.
 * PLAIN and AMQPLAIN only, so no anonymous login is offered. Logs to the console only.
 */
export function rabbitmqConf(): string {
    const settings: [string, string | number][] = [
        ["listeners.tcp.default", amqpPort],
        ["listeners.ssl.default", amqpsPort],
        ["ssl_options.certfile", `${rabbitmqPaths.tls}/tls.crt`],
        ["ssl_options.keyfile", `${rabbitmqPaths.tls}/tls.key`],
        ["ssl_options.cacertfile", `${rabbitmqPaths.tls}/ca.crt`],
        ["ssl_options.verify", "verify_none"],
        ["ssl_options.fail_if_no_peer_cert", "false"],
        ["ssl_options.versions.1", "tlsv1.3"],
        ["ssl_options.versions.2", "tlsv1.2"],
        ["management.tcp.port", managementPort],
        ["auth_mechanisms.1", "PLAIN"],
        ["auth_mechanisms.2", "AMQPLAIN"],
        ["definitions.import_backend", "local_filesystem"],
        ["definitions.local.path", `${rabbitmqPaths.definitions}/definitions.json`],
        ["vm_memory_high_watermark.absolute", memoryHighWatermarkBytes],
        ["disk_free_limit.absolute", diskFreeLimitBytes],
        ["log.console", "true"],
        ["log.console.level", "info"],
        ["log.file", "false"],
    ];
    return `${settings.map(([key, value]) => `${key} = ${value}`).join("\n")}\n`;
}

export interface RabbitMqArgs {
    /** The stack RabbitMQ runs in. */
    readonly context: StackContext;
    /** Public AMQPS endpoint (`amqps://amqp.<domain>:5671`); the server certificate names its host. */
    readonly publicEndpoint: string;
    /** The CA that signs the server certificate: the platform intermediate (key a Pulumi secret). */
    readonly issuer: {
        readonly certificate: pulumi.Input<string>;
        readonly privateKey: pulumi.Input<string>;
        /** The platform root, sent after the intermediate so clients can check the whole chain. */
        readonly root: pulumi.Input<string>;
    };
}

/**
 * The provider's metrics broker: RabbitMQ 4.3 with the management plugin as a one-replica
 * StatefulSet (a single node, its data on a volume of its own; a cluster of three would need
 * peer discovery and quorum-queue members, not needed for a metrics feed that tolerates a
 * restart), its topology and users from ./definitions.ts imported at boot.
 *
 * Tenants' ThingsBoard publish over AMQPS through a layer-4 LoadBalancer (they run in other
 * clusters) into the intake queue; the telemetry gate (./telemetry-gate.ts) forwards what it
 * admits to Telegraf's queue; both consume over plain AMQP inside the namespace; only the provider bridge
 * reaches the management API, with the `cdm-bridge` user from `rabbitmq-bridge-credentials`.
 *
 * TLS: the server certificate is issued here by the platform intermediate for the public AMQP
 * host. Tenant stacks already receive the platform root, so they verify the broker without a
 * public CA or cert-manager (an Ingress-style certificate would need an HTTP-01 challenge the
 * AMQP host cannot answer). It is renewed by `pulumi up` within its last 30 days, after a
 * refresh; a new certificate restarts the broker.
 */
export class RabbitMq extends pulumi.ComponentResource {
    /** In-cluster URL of the management API (`http://rabbitmq.<ns>.svc.cluster.local:15672`). */
    public readonly managementUrl: pulumi.Output<string>;
    /** In-cluster AMQP URL of the metrics vhost, without credentials (for Telegraf). */
    public readonly amqpUrl: pulumi.Output<string>;
    /** Name of the Secret with Telegraf's credentials. */
    public readonly telegrafSecret: pulumi.Output<string>;
    /** Name of the Secret with the telemetry gate's credentials. */
    public readonly gateSecret: pulumi.Output<string>;
    /** The server certificate (PEM). */
    public readonly certificate: pulumi.Output<string>;

    constructor(name: string, args: RabbitMqArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:rabbitmq:RabbitMq", name, {}, opts);
        const { context: ctx } = args;
        const child = { parent: this };
        const users = Object.keys(rabbitmqUsers) as RabbitmqUserName[];
        const passwords = Object.fromEntries(
            users.map((user) => [user, generatedPassword(`${name}-${user}-password`, child)]),
        ) as Record<RabbitmqUserName, pulumi.Output<string>>;
        createCredentialSecret(
            `${name}-bridge-credentials`,
            objectMeta(ctx, identity, rabbitmqCredentialsSecret.name),
            {
                [rabbitmqCredentialsSecret.username]: rabbitmqUsers.bridge.username,
                [rabbitmqCredentialsSecret.password]: passwords.bridge,
            },
            child,
        );
        this.telegrafSecret = createCredentialSecret(
            `${name}-telegraf-credentials`,
            objectMeta(ctx, identity, telegrafCredentialsSecret),
            { username: rabbitmqUsers.telegraf.username, password: passwords.telegraf },
            child,
        ).secret.metadata.name;
        this.gateSecret = createCredentialSecret(
            `${name}-gate-credentials`,
            objectMeta(ctx, identity, gateCredentialsSecret),
            { username: rabbitmqUsers.gate.username, password: passwords.gate },
            child,
        ).secret.metadata.name;
        // Password hashes only, and still a Secret: the whole file is a credential.
        const definitionsText = pulumi
            .all(passwords)
            .apply((p) =>
                renderDefinitions(
                    metricsBrokerDefinitions(p as Record<RabbitmqUserName, string>, telegrafQueueLimits),
                ),
            );
        const definitions = createCredentialSecret(
            `${name}-definitions`,
            objectMeta(ctx, identity, "rabbitmq-definitions"),
            { "definitions.json": definitionsText },
            child,
        );
        const { certificate, chain, key } = this.serverCertificate(name, args, child);
        this.certificate = certificate;
        const tlsSecret = createCredentialSecret(
            `${name}-tls`,
            objectMeta(ctx, identity, "rabbitmq-tls"),
            { "tls.crt": certificate, "tls.key": key, "ca.crt": chain },
            child,
        );
        const confText = rabbitmqConf();
        const config = createConfigMap(
            `${name}-config`,
            objectMeta(ctx, identity, "rabbitmq-config"),
            { "10-cdm.conf": confText },
            child,
        );
        // RabbitMQ reads its configuration, definitions and certificate at boot only: a change of
        // any restarts it. The definitions enter as their digest, which reveals nothing of the
        // password hashes in them, so the annotation is not a secret.
        const definitionsDigest = pulumi.unsecret(definitionsText.apply(sha256));
        const checksum = pulumi
            .all([confText, definitionsDigest, certificate])
            .apply(([conf, digest, cert]) => sha256([conf, digest, cert].join("\n")));
        const probe = (command: string) => ({
            exec: ["rabbitmq-diagnostics", "-q", command],
            // Each probe starts a CLI VM, which takes a few seconds on a busy node.
            timeoutSeconds: 20,
        });
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "StatefulSet",
                podAnnotations: { [`${labelPrefix}/config-sha256`]: checksum },
                pod: {
                    runAsUser: rabbitmqUid,
                    // Quorum queues flush their logs on shutdown.
                    terminationGracePeriodSeconds: 60,
                    volumes: [
                        { name: "config", configMap: config.metadata.name },
                        { name: "definitions", secret: definitions.secret.metadata.name },
                        { name: "tls", secret: tlsSecret.secret.metadata.name },
                    ],
                    containers: [
                        {
                            name: "rabbitmq",
                            image: imageRef(images.rabbitmq, ctx.imageRegistryMirror),
                            ports: [
                                { name: "amqp", port: amqpPort },
                                { name: "amqps", port: amqpsPort },
                                { name: "management", port: managementPort },
                            ],
                            resources,
                            // A first start with a long quorum log to replay may take minutes.
                            startup: { ...probe("ping"), periodSeconds: 10, failureThreshold: 60 },
                            readiness: { ...probe("check_port_connectivity"), periodSeconds: 30 },
                            liveness: { ...probe("ping"), periodSeconds: 30, failureThreshold: 6 },
                            mounts: [
                                { volume: "data", path: rabbitmqPaths.data },
                                { volume: "config", path: rabbitmqPaths.config, readOnly: true },
                                { volume: "definitions", path: rabbitmqPaths.definitions, readOnly: true },
                                { volume: "tls", path: rabbitmqPaths.tls, readOnly: true },
                            ],
                            // The image writes only its data directory (the Erlang cookie, the
                            // node's database and queues); logs go to the console.
                            scratch: ["/tmp", "/var/log/rabbitmq"],
                        },
                    ],
                },
                persistentVolumes: [{ name: "data", size: dataVolumeSize }],
                servicePorts: [
                    { name: "amqp", port: amqpPort },
                    { name: "management", port: managementPort },
                ],
                // Not headless: the gate, Telegraf and the bridge reach the broker only while it is ready.
                serviceType: "ClusterIP",
                ingress: [
                    { peers: [{ app: telemetryGateApp }, { app: telegrafApp }], ports: [{ port: amqpPort }] },
                    { peers: [{ app: bridgeApp }], ports: [{ port: managementPort }] },
                    // Tenants' clusters, from anywhere: the LoadBalancer keeps their addresses.
                    { peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port: amqpsPort }] },
                ],
                // A single node: it calls nothing.
                egress: [],
            },
            child,
        );
        new k8s.core.v1.Service(
            `${name}-amqps-service`,
            {
                metadata: objectMeta(ctx, identity, amqpsServiceName),
                spec: serviceSpec(
                    selectorLabels(ctx, identity),
                    [{ name: "amqps", port: amqpsPort }],
                    "LoadBalancer",
                ),
            },
            { ...child, dependsOn: [workload] },
        );
        this.managementUrl = pulumi.interpolate`http://${workload.host!}:${managementPort}`;
        this.amqpUrl = pulumi.interpolate`amqp://${workload.host!}:${amqpPort}/${metricsVhost}`;
        this.registerOutputs({
            managementUrl: this.managementUrl,
            amqpUrl: this.amqpUrl,
            telegrafSecret: this.telegrafSecret,
            gateSecret: this.gateSecret,
            certificate: this.certificate,
        });
    }

    /** The server certificate for the public AMQP host, issued by the platform intermediate. */
    private serverCertificate(name: string, args: RabbitMqArgs, child: pulumi.CustomResourceOptions) {
        const host = new URL(args.publicEndpoint).hostname;
        const key = new tls.PrivateKey(`${name}-tls-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
        const request = new tls.CertRequest(
            `${name}-tls-request`,
            { privateKeyPem: key.privateKeyPem, subject: { commonName: host }, dnsNames: [host] },
            child,
        );
        const signed = new tls.LocallySignedCert(
            `${name}-tls-certificate`,
            {
                certRequestPem: request.certRequestPem,
                caCertPem: args.issuer.certificate,
                caPrivateKeyPem: args.issuer.privateKey,
                validityPeriodHours: certificateHours.validity,
                earlyRenewalHours: certificateHours.earlyRenewal,
                allowedUses: ["digital_signature", "server_auth"],
                setSubjectKeyId: true,
            },
            child,
        );
        const chain = pulumi
            .all([args.issuer.certificate, args.issuer.root])
            .apply((pems) => pems.map((p) => `${p.trim()}\n`).join(""));
        return { certificate: signed.certPem, chain, key: pulumi.secret(key.privateKeyPem) };
    }
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}
