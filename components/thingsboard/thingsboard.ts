import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { sysadminEmail, tenantAdminEmail } from "./users";
import { bridgeApp, bridgePort, bridgeUid } from "../bridge/env";
import { imageRef, images } from "../images";
import { AppIdentity, labelPrefix, objectMeta, selectorLabels, StackContext } from "../k8s/context";
import { SecretKeyRef } from "../k8s/pod";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { createIngress, serviceSpec } from "../k8s/service";
import { Workload } from "../k8s/workload";
import { keycloakApp, keycloakHttpPort } from "../keycloak/keycloak";
import { TenantServerCertificate, TenantServerCertificateArgs } from "../pki/tenant-server-certificate";
import { PostgresConnection } from "../postgres/postgres";
import { createInstallJob } from "./install";
import { bootstrapEnv, tlsProxyPorts, createBootstrapJob, tlsProxyRoutes } from "./bootstrap-job";
import {
    httpPort,
    logbackXml,
    memory,
    mqttsPort,
    tbNodeEnv,
    thingsboardApp,
    thingsboardConf,
    thingsboardPaths,
    thingsboardUid,
} from "./settings";

export interface ThingsboardArgs {
    /** The stack ThingsBoard runs in. */
    readonly context: StackContext;
    /** Its PostgreSQL database (`postgres.connection("thingsboard")`). */
    readonly database: PostgresConnection;
    /** The runtime image (the bootstrap Job and the TLS client proxy run from it). */
    readonly runtimeImage: pulumi.Input<string>;
    /** The platform tenant id (routing keys, the forwarded messages' `tenant`). */
    readonly tenantId: string;
    /** The tenant's display name: the title of its ThingsBoard tenant. */
    readonly displayName: string;
    /** Public origin of the UI (`https://things.<tenant>.<domain>`) and the MQTTS endpoint. */
    readonly endpoints: { readonly things: string; readonly mqtt: string };
    /** The tenant Sub-CA: signs the MQTTS certificate; devices' chains end at it (the profile's CA). */
    readonly subCa: TenantServerCertificateArgs["subCa"];
    /** The provider's AMQPS endpoint (`amqps://amqp.<domain>:5671`) and the root its certificate chains to. */
    readonly providerAmqp: {
        readonly url: pulumi.Input<string>;
        readonly rootCertificate: pulumi.Input<string>;
    };
    /** The Secret with the tenant's publisher (`username`, `password`). */
    readonly amqpPublisherSecret: pulumi.Input<string>;
    /** The metrics the rule chain forwards to the provider. */
    readonly forwardedMetrics: readonly string[];
    /** The tenant bridge: in-cluster URL, the name its certificate carries, ThingsBoard's token. */
    readonly bridge: {
        readonly internalUrl: pulumi.Input<string>;
        readonly serverName: string;
        readonly token: SecretKeyRef;
    };
    /** Keycloak login: the realm's issuer, in-cluster and public, and the `thingsboard` client's secret. */
    readonly keycloak?: {
        readonly issuer: string;
        readonly internalIssuer: pulumi.Input<string>;
        readonly clientSecret: pulumi.Input<string>;
    };
}

/** The Secret with the administrators' credentials (system and tenant), for operators. */
export const thingsboardAdminSecret = "thingsboard-admin";
/** The TLS Secret of the MQTTS endpoint (issued by the tenant Sub-CA). */
export const mqttTlsSecret = "thingsboard-mqtt-tls";
/** The layer-4 Service devices connect to. */
export const mqttsServiceName = "thingsboard-mqtts";
/** The provider RabbitMQ's AMQPS port, which the TLS proxy connects to. */
const amqpsPort = 5671;
const identity: AppIdentity = {
    app: thingsboardApp,
    component: "iot-platform",
    version: images.thingsboard.tag,
};
const probe = { http: { path: "/login", port: httpPort } };

/**
 * ThingsBoard CE (tb-node as a monolith) on the stack's PostgreSQL: a schema install Job first,
 * then one pod with tb-node and a TLS client proxy, the UI behind the ingress at the things
 * origin, MQTT over TLS at layer 4 (TLS ends at ThingsBoard, which needs the client chain for
 * X.509 provisioning), and a bootstrap Job that sets up the tenant (./bootstrap-job.ts).
 *
 * One replica, a Deployment that replaces its pod only after the old one is gone: the in-memory
 * queue and the rule engine's actors live in one process, and two servers must never upgrade
 * one database. No volume: all state is in PostgreSQL.
 */
export class Thingsboard extends pulumi.ComponentResource {
    /** In-cluster URL of the UI and REST API (`http://thingsboard.<ns>.svc.cluster.local:8080`). */
    public readonly internalUrl: pulumi.Output<string>;
    /** Name of the Secret with the administrators' credentials. */
    public readonly adminSecret: pulumi.Output<string>;

    constructor(name: string, args: ThingsboardArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:thingsboard:ThingsBoard", name, {}, opts);
        const { context: ctx, database: db } = args;
        const child = { parent: this };
        const thingsHost = new URL(args.endpoints.things).host;
        const admin = createCredentialSecret(
            `${name}-admin-credentials`,
            objectMeta(ctx, identity, thingsboardAdminSecret),
            {
                "sysadmin-email": sysadminEmail,
                "sysadmin-password": generatedPassword(`${name}-sysadmin-password`, child),
                "tenant-admin-email": tenantAdminEmail(args.endpoints.things),
                "tenant-admin-password": generatedPassword(`${name}-tenant-admin-password`, child),
            },
            child,
        );
        this.adminSecret = admin.secret.metadata.name;
        const configFiles = {
            "thingsboard.conf": thingsboardConf(memory.limitMib),
            "logback.xml": logbackXml(),
        };
        const config = createConfigMap(
            `${name}-config`,
            objectMeta(ctx, identity, "thingsboard-config"),
            configFiles,
            child,
        );
        const proxyCa = createConfigMap(
            `${name}-proxy-ca`,
            objectMeta(ctx, identity, "thingsboard-proxy-ca"),
            { "platform-root.crt": args.providerAmqp.rootCertificate },
            child,
        );
        const mqttHost = new URL(args.endpoints.mqtt).hostname;
        // Devices trust the platform root, so the MQTTS certificate comes from the tenant Sub-CA.
        const mqttTls = new TenantServerCertificate(
            `${name}-mqtt-tls`,
            { context: ctx, identity, secretName: mqttTlsSecret, dnsNames: [mqttHost], subCa: args.subCa },
            child,
        );
        const image = imageRef(images.thingsboard, ctx.imageRegistryMirror);
        const env = tbNodeEnv(db);
        const install = createInstallJob(name, { ctx, db, image, env, config: config.metadata.name }, child);
        const routes = tlsProxyRoutes(args.providerAmqp.url, args.bridge);
        // tb-node reads its configuration and the MQTTS certificate at start only.
        const checksum = pulumi
            .all([JSON.stringify(configFiles), mqttTls.certificate, routes])
            .apply((parts) => createHash("sha256").update(parts.join("\n")).digest("hex"));
        const caMount = db.caFile
            ? [{ volume: "postgres-ca", path: db.caFile, subPath: "ca.crt", readOnly: true }]
            : [];
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "Deployment",
                updateStrategy: "Recreate",
                podAnnotations: {
                    [`${labelPrefix}/config-sha256`]: checksum,
                    // A component's dependsOn does not reach its children: naming the install Job
                    // here makes the Deployment wait until the Job has completed.
                    [`${labelPrefix}/schema-install-job`]: install.metadata.name,
                },
                pod: {
                    runAsUser: thingsboardUid,
                    volumes: [
                        { name: "config", configMap: config.metadata.name },
                        { name: "mqtt-tls", secret: mqttTls.secretName },
                        { name: "proxy-ca", configMap: proxyCa.metadata.name },
                        ...(db.caFile ? [{ name: "postgres-ca", secret: db.secretName }] : []),
                    ],
                    containers: [
                        {
                            name: "tb-node",
                            image,
                            env,
                            ports: [
                                { name: "http", port: httpPort },
                                { name: "mqtts", port: mqttsPort },
                            ],
                            resources: {
                                cpu: "500m",
                                memory: memory.request,
                                cpuLimit: "2",
                                memoryLimit: `${memory.limitMib}Mi`,
                            },
                            // Instead of the official 460 s initial delay: up to 10 minutes to start,
                            // then liveness takes over at once.
                            startup: { ...probe, periodSeconds: 10, failureThreshold: 60 },
                            readiness: { ...probe, periodSeconds: 10, timeoutSeconds: 5 },
                            liveness: { ...probe, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
                            mounts: [
                                { volume: "config", path: thingsboardPaths.config, readOnly: true },
                                { volume: "mqtt-tls", path: thingsboardPaths.mqttTls, readOnly: true },
                                ...caMount,
                            ],
                            scratch: [thingsboardPaths.tmp, thingsboardPaths.logs],
                        },
                        {
                            name: "tls-proxy",
                            image: args.runtimeImage,
                            command: ["node", "dist/runtime/tls-client-proxy/main.js"],
                            env: {
                                TLS_PROXY_ROUTES: routes,
                                TLS_PROXY_HEALTH_PORT: String(tlsProxyPorts.health),
                            },
                            ports: [{ name: "proxy-health", port: tlsProxyPorts.health }],
                            resources: { cpu: "10m", memory: "48Mi", cpuLimit: "500m", memoryLimit: "128Mi" },
                            readiness: { http: { path: "/healthz", port: tlsProxyPorts.health } },
                            liveness: { http: { path: "/healthz", port: tlsProxyPorts.health } },
                            mounts: [{ volume: "proxy-ca", path: "/etc/tls-proxy", readOnly: true }],
                        },
                    ],
                },
                servicePorts: [{ name: "http", port: httpPort }],
                ingress: [
                    {
                        peers: [
                            { namespace: ctx.ingress.controllerNamespace },
                            { app: `${thingsboardApp}-bootstrap` },
                        ],
                        ports: [{ port: httpPort }],
                    },
                    // Devices, from anywhere: the LoadBalancer keeps their addresses.
                    { peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port: mqttsPort }] },
                ],
                egress: [
                    db.egress,
                    // OAuth2: token, userinfo and keys of the tenant realm.
                    { peers: [{ app: keycloakApp }], ports: [{ port: keycloakHttpPort }] },
                    // The connect webhook, through the TLS proxy.
                    { peers: [{ app: bridgeApp }], ports: [{ port: bridgePort }] },
                    // The provider's AMQPS endpoint, wherever the provider cluster is.
                    { peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port: amqpsPort }] },
                ],
            },
            child,
        );
        new k8s.core.v1.Service(
            `${name}-mqtts-service`,
            {
                metadata: objectMeta(ctx, identity, mqttsServiceName),
                spec: serviceSpec(
                    selectorLabels(ctx, identity),
                    [{ name: "mqtts", port: mqttsPort }],
                    "LoadBalancer",
                ),
            },
            { ...child, dependsOn: [workload] },
        );
        createIngress(
            `${name}-ingress`,
            ctx,
            // The UI keeps WebSockets open for live telemetry; nginx closes idle ones after 60 s.
            objectMeta(ctx, identity, thingsboardApp, {
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            }),
            [{ host: thingsHost, path: "/", service: thingsboardApp, port: httpPort }],
            child,
        );
        this.internalUrl = pulumi.interpolate`http://${workload.host!}:${httpPort}`;
        const oauth2Secret = args.keycloak
            ? createCredentialSecret(
                  `${name}-oauth2`,
                  objectMeta(ctx, identity, "thingsboard-oauth2"),
                  { "client-secret": args.keycloak.clientSecret },
                  child,
              ).ref("client-secret")
            : undefined;
        createBootstrapJob(
            name,
            {
                ctx,
                image: args.runtimeImage,
                runAsUser: bridgeUid,
                env: bootstrapEnv({
                    thingsboardUrl: this.internalUrl,
                    admin: admin.ref,
                    tenantId: args.tenantId,
                    tenantTitle: args.displayName,
                    subCaCertificate: args.subCa.certificate,
                    forwardedMetrics: args.forwardedMetrics,
                    amqpPublisherSecret: args.amqpPublisherSecret,
                    bridgeToken: args.bridge.token,
                    keycloak:
                        args.keycloak && oauth2Secret
                            ? {
                                  ...args.keycloak,
                                  clientSecret: oauth2Secret,
                                  thingsOrigin: args.endpoints.things,
                              }
                            : undefined,
                }),
            },
            { ...child, dependsOn: [workload] },
        );
        this.registerOutputs({ internalUrl: this.internalUrl, adminSecret: this.adminSecret });
    }
}
