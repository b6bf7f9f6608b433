import * as pulumi from "@pulumi/pulumi";
import { bridgeApp, hawkbitCredentialsSecret, hawkbitService } from "../bridge/env";
import { imageRef, images } from "../images";
import { AppIdentity, objectMeta, StackContext } from "../k8s/context";
import { createCredentialSecret, generatedPassword } from "../k8s/secret";
import { createIngress, ingressTlsSecret } from "../k8s/service";
import { TenantServerCertificate, TenantServerCertificateArgs } from "../pki/tenant-server-certificate";
import { Workload } from "../k8s/workload";
import { PostgresConnection } from "../postgres/postgres";
import {
    artifactDirectory,
    artifactLimits,
    hawkbitProperties,
    hawkbitTenant,
    HawkbitUserName,
    hawkbitUsers,
    passwordSetting,
    storedPassword,
} from "./settings";

export interface HawkbitArgs {
    /** The stack hawkBit runs in. */
    readonly context: StackContext;
    /** Its PostgreSQL database (`postgres.connection("hawkbit")`). */
    readonly database: PostgresConnection;
    /** Public origin of the OTA endpoint (`https://ota.<tenant>.<domain>`); the Ingress is bound to its host. */
    readonly publicOrigin: string;
    /** The tenant Sub-CA, which signs the OTA endpoint's certificate (devices trust the platform root). */
    readonly subCa: TenantServerCertificateArgs["subCa"];
}

/** The Secret with the tenant admin's credentials (`username`, `password`), for operators. */
export const hawkbitAdminSecret = "hawkbit-admin";
/** The Secret with each user's password as hawkBit stores it; hawkBit's container reads it only. */
const storedPasswordsSecret = "hawkbit-users";

/** What the ingress publishes: DDI of hawkBit's tenant (devices) and the management API (operators). */
export const publicHawkbitPaths = [`/${hawkbitTenant}/controller`, "/rest"] as const;

/**
 * Answers without credentials and without the database once the application is up (hawkBit's
 * security covers the DDI, management and system paths only), as the Eclipse chart probes it;
 * never published. The actuator's health, which would also check the database, is not confirmed
 * to be exposed without credentials by the image, and a database outage must not restart hawkBit.
 */
const probePath = "/swagger-ui/index.html";
/** The image's user has no fixed uid; 65534 (nobody) as in the Eclipse chart. */
const hawkbitUid = 65534;
/** The artifact volume: hawkBit's storage limit and a quarter more for the filesystem's own use. */
const artifactVolumeSize = `${(artifactLimits.maxStorageBytes * 1.25) / 1024 ** 3}Gi`;
/**
 * /tmp holds an upload twice while it is in flight (Tomcat's copy of the multipart body, hawkBit's
 * copy while it hashes it), each up to the largest artifact; and Tomcat's and the JVM's own files.
 */
const tmpSize = `${(2 * artifactLimits.maxArtifactBytes) / 1024 ** 3 + 1}Gi`;
/** The largest request the ingress passes: the largest artifact and its multipart framing. */
const maxRequestSize = `${artifactLimits.maxArtifactBytes / 1024 ** 2 + 1}m`;
const identity: AppIdentity = { app: hawkbitService.app, component: "ota", version: images.hawkbit.tag };
const userNames = Object.keys(hawkbitUsers) as HawkbitUserName[];
const storedKey = (user: HawkbitUserName) => `${user}-password`;

/**
 * hawkBit 1.x (the monolithic update server) on PostgreSQL: DDI for devices with their target
 * tokens at the tenant's OTA endpoint, the management API for operators (`hawkbit-admin`) and
 * the tenant bridge (`hawkbit-bridge-credentials`), with the settings of ./settings.ts. One
 * replica: a StatefulSet replaces its pod only after the old one is gone, so two servers never
 * run Flyway migrations against one database, and it keeps the artifact volume.
 */
export class Hawkbit extends pulumi.ComponentResource {
    /** In-cluster URL of the management API (`http://hawkbit.<ns>.svc.cluster.local:8080`). */
    public readonly internalUrl: pulumi.Output<string>;
    /** Name of the Secret with the tenant admin's credentials. */
    public readonly adminSecret: pulumi.Output<string>;

    constructor(name: string, args: HawkbitArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:hawkbit:Hawkbit", name, {}, opts);
        const { context: ctx, database: db } = args;
        const child = { parent: this };
        const passwords = Object.fromEntries(
            userNames.map((user) => [user, generatedPassword(`${name}-${user}-password`, child)]),
        ) as Record<HawkbitUserName, pulumi.Output<string>>;
        this.adminSecret = createCredentialSecret(
            `${name}-admin-credentials`,
            objectMeta(ctx, identity, hawkbitAdminSecret),
            { username: hawkbitUsers.admin.username, password: passwords.admin },
            child,
        ).secret.metadata.name;
        createCredentialSecret(
            `${name}-bridge-credentials`,
            objectMeta(ctx, identity, hawkbitCredentialsSecret.name),
            {
                [hawkbitCredentialsSecret.username]: hawkbitUsers.bridge.username,
                [hawkbitCredentialsSecret.password]: passwords.bridge,
            },
            child,
        );
        const stored = createCredentialSecret(
            `${name}-users`,
            objectMeta(ctx, identity, storedPasswordsSecret),
            Object.fromEntries(
                userNames.map((user) => [storedKey(user), passwords[user].apply(storedPassword)]),
            ),
            child,
        );
        const properties = hawkbitProperties("1.x", {
            publicOrigin: args.publicOrigin,
            artifactPath: artifactDirectory,
        });
        const probe = { http: { path: probePath, port: hawkbitService.port } };
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "StatefulSet",
                pod: {
                    runAsUser: hawkbitUid,
                    containers: [
                        {
                            name: "hawkbit",
                            image: imageRef(images.hawkbit, ctx.imageRegistryMirror),
                            env: {
                                // The image's entrypoint passes it as spring.profiles.active.
                                PROFILES: "postgresql",
                                SPRING_DATASOURCE_URL: db.ref("jdbc-url"),
                                SPRING_DATASOURCE_USERNAME: db.ref("username"),
                                SPRING_DATASOURCE_PASSWORD: db.ref("password"),
                                SPRING_APPLICATION_JSON: JSON.stringify(properties),
                                ...Object.fromEntries(
                                    userNames.map((user) => [
                                        passwordSetting("1.x", user).env,
                                        stored.ref(storedKey(user)),
                                    ]),
                                ),
                            },
                            ports: [{ name: "http", port: hawkbitService.port }],
                            // The image's JVM takes 768 MiB of heap and 250 MiB of metaspace.
                            resources: { cpu: "500m", memory: "1Gi", cpuLimit: "2", memoryLimit: "1536Mi" },
                            // The first start runs every Flyway migration: up to 10 minutes.
                            startup: { ...probe, periodSeconds: 10, failureThreshold: 60 },
                            readiness: probe,
                            liveness: { ...probe, failureThreshold: 6 },
                            mounts: [
                                { volume: "artifacts", path: artifactDirectory },
                                { volume: "tmp", path: "/tmp" },
                                ...(db.caFile
                                    ? [
                                          {
                                              volume: "postgres-ca",
                                              path: db.caFile,
                                              subPath: "ca.crt",
                                              readOnly: true,
                                          },
                                      ]
                                    : []),
                            ],
                        },
                    ],
                    volumes: [
                        { name: "tmp", shared: { sizeLimit: tmpSize } },
                        ...(db.caFile ? [{ name: "postgres-ca", secret: db.secretName }] : []),
                    ],
                },
                persistentVolumes: [{ name: "artifacts", size: artifactVolumeSize }],
                servicePorts: [{ name: "http", port: hawkbitService.port }],
                // Not headless: the bridge and the ingress reach hawkBit only while it is ready.
                serviceType: "ClusterIP",
                ingress: [
                    {
                        peers: [{ namespace: ctx.ingress.controllerNamespace }, { app: bridgeApp }],
                        ports: [{ port: hawkbitService.port }],
                    },
                ],
                egress: [db.egress],
            },
            child,
        );
        const host = new URL(args.publicOrigin).host;
        // DDI's TLS comes from the platform PKI (the tenant Sub-CA), not the ingress issuer:
        // rauc-hawkbit-updater trusts the device's store, which holds the platform root.
        const tlsCertificate = new TenantServerCertificate(
            `${name}-tls`,
            {
                context: ctx,
                identity,
                secretName: ingressTlsSecret(hawkbitService.app),
                dnsNames: [host],
                subCa: args.subCa,
            },
            child,
        );
        createIngress(
            `${name}-ingress`,
            { ...ctx, ingress: { ...ctx.ingress, tlsIssuer: undefined } },
            // nginx refuses request bodies over 1 MiB by default: every artifact upload.
            objectMeta(ctx, identity, hawkbitService.app, {
                "nginx.ingress.kubernetes.io/proxy-body-size": maxRequestSize,
            }),
            publicHawkbitPaths.map((path) => ({
                host,
                path,
                service: hawkbitService.app,
                port: hawkbitService.port,
            })),
            { ...child, dependsOn: [tlsCertificate] },
        );
        this.internalUrl = pulumi.interpolate`http://${workload.host!}:${hawkbitService.port}`;
        this.registerOutputs({ internalUrl: this.internalUrl, adminSecret: this.adminSecret });
    }
}
