import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PostgresConfig } from "../config/common-config";
import { ConfigError } from "../config/validate";
import { imageRef, images } from "../images";
import { AppIdentity, objectMeta, StackContext } from "../k8s/context";
import { Allow, createNetworkPolicy, networkPolicySpec } from "../k8s/network-policy";
import { buildPodSpec, SecretKeyRef } from "../k8s/pod";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { Workload } from "../k8s/workload";
import { passwordEnvName, PostgresConsumer, provisionScript, validateConsumers } from "./provision";

export interface PostgresArgs {
    /** The stack the database serves. */
    readonly context: StackContext;
    /** In-cluster or external server. */
    readonly config: PostgresConfig;
    /** Services that get their own role and database. */
    readonly consumers: readonly PostgresConsumer[];
}

/** How a consumer connects: a Secret with its connection settings and the egress it needs. */
export interface PostgresConnection {
    /** Name of the Secret with keys host, port, database, username, password, sslmode, jdbc-url. */
    readonly secretName: pulumi.Output<string>;
    /** A reference to one key of that Secret, for a container's env. */
    ref(key: "host" | "port" | "database" | "username" | "password" | "sslmode" | "jdbc-url"): SecretKeyRef;
    /** The NetworkPolicy egress rule the consumer's pods need to reach the server. */
    readonly egress: Allow;
}

const app = "postgres";
const identity: AppIdentity = { app, component: "database", version: images.postgres.tag };
const port = 5432;
/** uid of the `postgres` user in the Alpine-based image. */
const postgresUid = 70;
const provisionerApp = "postgres-provision";

/**
 * Refuses an external server configuration that lacks a password for one of the consumers. The
 * stacks call this before creating anything, so a bad configuration leaves no partial graph.
 */
export function checkExternalPasswords(config: PostgresConfig, consumers: readonly PostgresConsumer[]): void {
    if (config.mode !== "external") return;
    const missing = consumers.filter((c) => !config.consumers.includes(c.name)).map((c) => c.name);
    if (missing.length > 0) {
        throw new ConfigError([`cdm:postgresExternalPasswords: no password for consumer(s) ${missing.join(", ")}`]);
    }
}

/** The connection settings of a consumer, as the Secret stores them. */
export function connectionSettings(
    host: pulumi.Input<string>,
    serverPort: number,
    sslMode: string,
    consumer: string,
    password: pulumi.Input<string>,
): Record<string, pulumi.Input<string>> {
    return {
        host,
        port: String(serverPort),
        database: consumer,
        username: consumer,
        password,
        sslmode: sslMode,
        "jdbc-url": pulumi.interpolate`jdbc:postgresql://${host}:${serverPort}/${consumer}?sslmode=${sslMode}`,
    };
}

/**
 * PostgreSQL for the stack's services: either a StatefulSet in the namespace with a generated
 * superuser and a provisioning Job that gives each consumer its own role and database, or an
 * external managed server whose per-consumer passwords come from secret config. Either way each
 * consumer reads its settings from a Secret `postgres-<consumer>` of the same shape.
 */
export class Postgres extends pulumi.ComponentResource {
    private readonly connections = new Map<string, PostgresConnection>();

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:postgres:Postgres", name, {}, opts);
        validateConsumers(args.consumers);
        const { context: ctx, config } = args;
        const child = { parent: this };
        let host: pulumi.Input<string>;
        let egress: Allow;
        let passwordOf: (consumer: string) => pulumi.Input<string>;
        let sslMode: string;
        let serverPort: number;
        let superuser: SecretKeyRef | undefined;
        if (config.mode === "external") {
            host = config.host;
            serverPort = config.port;
            sslMode = config.sslMode;
            // A NetworkPolicy cannot name a DNS host, so the managed server is allowed by port only.
            egress = { peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port: config.port }] };
            passwordOf = (consumer) => config.passwords.apply((p) => p[consumer]);
        } else {
            const server = this.inCluster(name, ctx, config.storageSize, args.consumers, child);
            host = server.host;
            superuser = server.superuser;
            serverPort = port;
            sslMode = "disable";
            egress = { peers: [{ app }], ports: [{ port }] };
            const generated = new Map(
                args.consumers.map((c) => [c.name, generatedPassword(`${name}-${c.name}-password`, child)]),
            );
            passwordOf = (consumer) => generated.get(consumer)!;
        }
        for (const consumer of args.consumers) {
            const { secret, ref } = createCredentialSecret(
                `${name}-${consumer.name}-connection`,
                objectMeta(ctx, identity, `postgres-${consumer.name}`),
                connectionSettings(host, serverPort, sslMode, consumer.name, passwordOf(consumer.name)),
                child,
            );
            this.connections.set(consumer.name, { secretName: secret.metadata.name, ref, egress });
        }
        if (superuser) {
            this.provisioner(name, ctx, args.consumers, superuser, child);
        }
        this.registerOutputs({});
    }

    /** The connection of a declared consumer. */
    connection(consumer: string): PostgresConnection {
        const found = this.connections.get(consumer);
        if (!found) {
            throw new Error(`postgres has no consumer "${consumer}"; declare it in the stack's consumer list`);
        }
        return found;
    }

    private inCluster(
        name: string,
        ctx: StackContext,
        storageSize: string,
        consumers: readonly PostgresConsumer[],
        child: pulumi.CustomResourceOptions,
    ): { host: pulumi.Output<string>; superuser: SecretKeyRef } {
        const superuser = createCredentialSecret(
            `${name}-superuser`,
            objectMeta(ctx, identity, "postgres-superuser"),
            { password: generatedPassword(`${name}-superuser-password`, child) },
            child,
        );
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "StatefulSet",
                serviceType: "ClusterIP",
                pod: {
                    runAsUser: postgresUid,
                    terminationGracePeriodSeconds: 60,
                    containers: [
                        {
                            name: "postgres",
                            image: imageRef(images.postgres, ctx.imageRegistryMirror),
                            ports: [{ name: "postgres", port }],
                            env: {
                                POSTGRES_PASSWORD: superuser.ref("password"),
                                PGDATA: "/var/lib/postgresql/data/pgdata",
                                POSTGRES_INITDB_ARGS: "--auth-host=scram-sha-256 --data-checksums",
                            },
                            resources: { cpu: "250m", memory: "512Mi", cpuLimit: "2", memoryLimit: "2Gi" },
                            startup: { exec: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"], periodSeconds: 5, failureThreshold: 60 },
                            readiness: { exec: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"], periodSeconds: 10 },
                            liveness: { exec: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"], periodSeconds: 20, failureThreshold: 6 },
                            mounts: [{ volume: "data", path: "/var/lib/postgresql/data" }],
                            scratch: ["/var/run/postgresql", "/tmp"],
                        },
                    ],
                },
                persistentVolumes: [{ name: "data", size: storageSize }],
                servicePorts: [{ name: "postgres", port }],
                ingress: [
                    {
                        peers: [...new Set([...consumers.map((c) => c.app), provisionerApp])].map((a) => ({ app: a })),
                        ports: [{ port }],
                    },
                ],
                egress: [],
            },
            child,
        );
        return { host: workload.host!, superuser: superuser.ref("password") };
    }

    /** A Job that runs the provisioning script; it is replaced whenever the consumer list changes. */
    private provisioner(
        name: string,
        ctx: StackContext,
        consumers: readonly PostgresConsumer[],
        superuser: SecretKeyRef,
        child: pulumi.CustomResourceOptions,
    ): void {
        const jobIdentity: AppIdentity = { app: provisionerApp, component: "database", version: images.postgres.tag };
        const script = createConfigMap(
            `${name}-provision-script`,
            objectMeta(ctx, jobIdentity, provisionerApp),
            { "provision.sql": provisionScript(consumers) },
            child,
        );
        const env = Object.fromEntries(
            consumers.map((c, i) => [passwordEnvName(i), this.connection(c.name).ref("password")]),
        );
        const spec = buildPodSpec({
            runAsUser: postgresUid,
            restartPolicy: "OnFailure",
            volumes: [{ name: "script", configMap: script.metadata.name }],
            containers: [
                {
                    name: "provision",
                    image: imageRef(images.postgres, ctx.imageRegistryMirror),
                    command: [
                        "sh",
                        "-c",
                        "until pg_isready -q -t 5; do sleep 2; done; " +
                            "exec psql --no-psqlrc -v ON_ERROR_STOP=1 -d postgres -f /provision/provision.sql",
                    ],
                    env: {
                        PGHOST: app,
                        PGPORT: String(port),
                        PGUSER: "postgres",
                        PGPASSWORD: superuser,
                        ...env,
                    },
                    resources: { cpu: "50m", memory: "64Mi", cpuLimit: "500m", memoryLimit: "256Mi" },
                    mounts: [{ volume: "script", path: "/provision", readOnly: true }],
                    scratch: ["/tmp"],
                },
            ],
        });
        new k8s.batch.v1.Job(
            `${name}-provision`,
            {
                metadata: objectMeta(ctx, jobIdentity, provisionerApp),
                spec: {
                    backoffLimit: 6,
                    activeDeadlineSeconds: 900,
                    template: { metadata: { labels: objectMeta(ctx, jobIdentity, provisionerApp).labels }, spec },
                },
            },
            { ...child, deleteBeforeReplace: true },
        );
        createNetworkPolicy(
            `${name}-provision-netpol`,
            objectMeta(ctx, jobIdentity, provisionerApp),
            networkPolicySpec({ "app.kubernetes.io/name": provisionerApp }, [], [{ peers: [{ app }], ports: [{ port }] }]),
            child,
        );
    }
}
