import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { metricsVhost, telemetryExchange } from "../../runtime/shared/onboarding";
import { AppIdentity, labelPrefix, objectMeta, selectorLabels, StackContext } from "../k8s/context";
import { createNetworkPolicy, networkPolicySpec } from "../k8s/network-policy";
import { buildPodSpec, EnvValue, SecretKeyRef } from "../k8s/pod";
import { httpPort, thingsboardApp } from "./settings";
import { thingsboardClientId } from "./users";

/** Loopback ports of the pod's TLS client proxy, and its health port. */
export const tlsProxyPorts = { amqp: 5672, bridge: 18443, health: 9466 } as const;

export const bootstrapJobName = `${thingsboardApp}-bootstrap`;
const identity: AppIdentity = { app: bootstrapJobName, component: "iot-platform" };
const platformRootFile = "/etc/tls-proxy/platform-root.crt";

/**
 * The TLS client proxy's routes (runtime/tls-client-proxy): the rule chain's AMQP connection to
 * the provider's AMQPS endpoint, verified against the platform root; its connect webhook call to
 * the tenant bridge's Service, verified against the name the bridge's certificate carries (its
 * public host) and the system's CAs, as the tenant's other services call the bridge.
 */
export function tlsProxyRoutes(
    amqpUrl: pulumi.Input<string>,
    bridge: { readonly internalUrl: pulumi.Input<string>; readonly serverName: string },
): pulumi.Output<string> {
    return pulumi.all([amqpUrl, bridge.internalUrl]).apply(([amqp, internal]) => {
        const a = new URL(amqp);
        const b = new URL(internal);
        return JSON.stringify([
            {
                listenPort: tlsProxyPorts.amqp,
                host: a.hostname,
                port: Number(a.port || 5671),
                caFile: platformRootFile,
            },
            {
                listenPort: tlsProxyPorts.bridge,
                host: b.hostname,
                port: Number(b.port || 443),
                serverName: bridge.serverName,
            },
        ]);
    });
}

/** What the bootstrap's environment is made of. */
export interface BootstrapEnvInputs {
    readonly thingsboardUrl: pulumi.Input<string>;
    /** References into the administrators' Secret. */
    readonly admin: (key: string) => SecretKeyRef;
    readonly tenantId: string;
    readonly tenantTitle: string;
    readonly subCaCertificate: pulumi.Input<string>;
    readonly forwardedMetrics: readonly string[];
    readonly amqpPublisherSecret: pulumi.Input<string>;
    readonly bridgeToken: SecretKeyRef;
    readonly keycloak?: {
        readonly issuer: string;
        readonly internalIssuer: pulumi.Input<string>;
        readonly clientSecret: SecretKeyRef;
        readonly thingsOrigin: string;
    };
}

/**
 * The bootstrap's environment (runtime/thingsboard-bootstrap/config.ts reads it): credentials
 * as Secret references only. The rule chain reaches RabbitMQ and the bridge through the TLS
 * proxy on loopback, so those are the addresses it is given.
 */
export function bootstrapEnv(i: BootstrapEnvInputs): Record<string, EnvValue> {
    return {
        TB_URL: i.thingsboardUrl,
        TB_SYSADMIN_PASSWORD: i.admin("sysadmin-password"),
        TB_TENANT_TITLE: i.tenantTitle,
        TB_TENANT_ADMIN_EMAIL: i.admin("tenant-admin-email"),
        TB_TENANT_ADMIN_PASSWORD: i.admin("tenant-admin-password"),
        TENANT_ID: i.tenantId,
        SUB_CA_PEM: i.subCaCertificate,
        FORWARDED_METRICS: i.forwardedMetrics.join(","),
        AMQP_HOST: "127.0.0.1",
        AMQP_PORT: String(tlsProxyPorts.amqp),
        AMQP_VHOST: metricsVhost,
        AMQP_EXCHANGE: telemetryExchange,
        AMQP_USERNAME: { secret: i.amqpPublisherSecret, key: "username" },
        AMQP_PASSWORD: { secret: i.amqpPublisherSecret, key: "password" },
        CONNECT_WEBHOOK_URL: `http://127.0.0.1:${tlsProxyPorts.bridge}/webhooks/thingsboard/connect`,
        THINGSBOARD_WEBHOOK_TOKEN: i.bridgeToken,
        ...(i.keycloak
            ? {
                  OAUTH2_ISSUER: i.keycloak.issuer,
                  OAUTH2_INTERNAL_ISSUER: i.keycloak.internalIssuer,
                  OAUTH2_CLIENT_ID: thingsboardClientId,
                  OAUTH2_CLIENT_SECRET: i.keycloak.clientSecret,
                  OAUTH2_MAPPER_URL: `http://127.0.0.1:${tlsProxyPorts.bridge}/webhooks/thingsboard/login`,
                  THINGS_ORIGIN: i.keycloak.thingsOrigin,
              }
            : {}),
    };
}

/** The plain (non-Secret) part of an environment, for the Job's checksum. */
function plainValues(env: Readonly<Record<string, EnvValue>>): pulumi.Output<string> {
    const plain = Object.entries(env).filter(([, v]) => typeof v !== "object" || !("key" in (v as object)));
    return pulumi
        .all(
            plain.map(([k, v]) => pulumi.output(v as pulumi.Input<string>).apply((value) => `${k}=${value}`)),
        )
        .apply((lines) => createHash("sha256").update(lines.join("\n")).digest("hex"));
}

/**
 * The bootstrap Job: the runtime image's `thingsboard-bootstrap`, after tb-node is ready. A change
 * of its settings (a checksum on the pod template) replaces the Job, which runs again; every
 * step is idempotent. It may only reach tb-node.
 */
export function createBootstrapJob(
    name: string,
    inputs: {
        readonly ctx: StackContext;
        readonly image: pulumi.Input<string>;
        readonly runAsUser: number;
        readonly env: Readonly<Record<string, EnvValue>>;
    },
    opts: pulumi.CustomResourceOptions,
): k8s.batch.v1.Job {
    const { ctx } = inputs;
    const meta = objectMeta(ctx, identity, bootstrapJobName);
    const pod = buildPodSpec({
        runAsUser: inputs.runAsUser,
        restartPolicy: "Never",
        containers: [
            {
                name: "bootstrap",
                image: inputs.image,
                command: ["node", "dist/runtime/thingsboard-bootstrap/main.js"],
                env: inputs.env,
                resources: { cpu: "50m", memory: "64Mi", cpuLimit: "500m", memoryLimit: "256Mi" },
            },
        ],
    });
    const job = new k8s.batch.v1.Job(
        `${name}-bootstrap`,
        {
            metadata: meta,
            spec: {
                backoffLimit: 6,
                activeDeadlineSeconds: 3600,
                template: {
                    metadata: {
                        labels: meta.labels,
                        annotations: { [`${labelPrefix}/settings-sha256`]: plainValues(inputs.env) },
                    },
                    spec: pod,
                },
            },
        },
        { ...opts, deleteBeforeReplace: true },
    );
    createNetworkPolicy(
        `${name}-bootstrap-netpol`,
        meta,
        networkPolicySpec(
            selectorLabels(ctx, identity),
            [],
            [{ peers: [{ app: thingsboardApp }], ports: [{ port: httpPort }] }],
        ),
        opts,
    );
    return job;
}
