import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PostgresConfig } from "../config/common-config";
import { labelPrefix, objectMeta, StackContext } from "../k8s/context";
import { Allow, createNetworkPolicy, networkPolicySpec } from "../k8s/network-policy";
import { buildPodSpec, SecretKeyRef } from "../k8s/pod";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { Workload } from "../k8s/workload";
import { PostgresConsumer, provisionScript, validateConsumers } from "./provision";
import {
    clientEgress,
    connectionSettings,
    postgresApp,
    postgresCaPath,
    postgresPort,
    provisionerIdentity,
    provisionerPod,
    scriptChecksum,
    serverIdentity,
    serverPod,
} from "./render";

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
    /** Name of the Secret with keys host, port, database, username, password, sslmode, jdbc-url (and ca.crt). */
    readonly secretName: pulumi.Output<string>;
    /** A reference to one key of that Secret, for a container's env. */
    ref(key: "host" | "port" | "database" | "username" | "password" | "sslmode" | "jdbc-url"): SecretKeyRef;
    /** The NetworkPolicy egress rule the consumer's pods need to reach the server. */
    readonly egress: Allow;
    /**
     * Where the consumer mounts key `ca.crt` of the Secret (`postgresCaPath`) to verify the server;
     * undefined when there is no CA to verify against (in-cluster, or external with `require`).
     */
    readonly caFile?: string;
}

/**
 * PostgreSQL for the stack's services: either a StatefulSet in the namespace with a generated
 * superuser and a provisioning Job that gives each consumer its own role and database, or an
 * external managed server whose per-consumer passwords come from secret config. Either way each
 * consumer reads its settings from a Secret `postgres-<consumer>` of the same shape.
 */
export class Postgres extends pulumi.ComponentResource {
    /** Connection Secret name of each consumer. */
    public readonly connectionSecrets: Record<string, pulumi.Output<string>> = {};
    private readonly connections = new Map<string, PostgresConnection>();

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:postgres:Postgres", name, {}, opts);
        validateConsumers(args.consumers);
        const { context: ctx, config } = args;
        const child = { parent: this };
        const egress = clientEgress(config);
        const server =
            config.mode === "in-cluster"
                ? this.server(name, ctx, config.storageSize, args.consumers, child)
                : undefined;
        for (const consumer of args.consumers) {
            const password =
                config.mode === "external"
                    ? config.passwords.apply((p) => p[consumer.name])
                    : generatedPassword(`${name}-${consumer.name}-password`, child);
            const settings =
                config.mode === "external"
                    ? connectionSettings(config.host, config.port, consumer.name, password, config)
                    : connectionSettings(server!.host, postgresPort, consumer.name, password, {
                          sslMode: "disable",
                      });
            const { secret, ref } = createCredentialSecret(
                `${name}-${consumer.name}-connection`,
                objectMeta(ctx, serverIdentity, `postgres-${consumer.name}`),
                settings,
                child,
            );
            const caFile = config.mode === "external" && config.caCertificate ? postgresCaPath : undefined;
            this.connections.set(consumer.name, { secretName: secret.metadata.name, ref, egress, caFile });
            this.connectionSecrets[consumer.name] = secret.metadata.name;
        }
        if (server) {
            this.provisioner(name, ctx, args.consumers, server.superuser, child);
        }
        this.registerOutputs({ connectionSecrets: this.connectionSecrets });
    }

    /** The connection of a declared consumer. */
    connection(consumer: string): PostgresConnection {
        const found = this.connections.get(consumer);
        if (!found) {
            throw new Error(
                `postgres has no consumer "${consumer}"; declare it in the stack's consumer list`,
            );
        }
        return found;
    }

    private server(
        name: string,
        ctx: StackContext,
        storageSize: string,
        consumers: readonly PostgresConsumer[],
        child: pulumi.CustomResourceOptions,
    ): { host: pulumi.Output<string>; superuser: SecretKeyRef } {
        const superuser = createCredentialSecret(
            `${name}-superuser`,
            objectMeta(ctx, serverIdentity, "postgres-superuser"),
            { password: generatedPassword(`${name}-superuser-password`, child) },
            child,
        );
        const clients = [...new Set([...consumers.map((c) => c.app), provisionerIdentity.app])];
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity: serverIdentity,
                kind: "StatefulSet",
                serviceType: "ClusterIP",
                pod: serverPod(superuser.secret.metadata.name, ctx.imageRegistryMirror),
                persistentVolumes: [{ name: "data", size: storageSize }],
                servicePorts: [{ name: "postgres", port: postgresPort }],
                ingress: [{ peers: clients.map((app) => ({ app })), ports: [{ port: postgresPort }] }],
                egress: [],
            },
            child,
        );
        return { host: workload.host!, superuser: superuser.ref("password") };
    }

    /** A Job that runs the provisioning script; a changed script or consumer list replaces it. */
    private provisioner(
        name: string,
        ctx: StackContext,
        consumers: readonly PostgresConsumer[],
        superuser: SecretKeyRef,
        child: pulumi.CustomResourceOptions,
    ): void {
        const meta = objectMeta(ctx, provisionerIdentity, provisionerIdentity.app);
        const script = provisionScript(consumers);
        const configMap = createConfigMap(
            `${name}-provision-script`,
            meta,
            { "provision.sql": script },
            child,
        );
        const pod = provisionerPod(
            configMap.metadata.name,
            superuser,
            consumers.map((c) => this.connection(c.name).ref("password")),
            ctx.imageRegistryMirror,
        );
        new k8s.batch.v1.Job(
            `${name}-provision`,
            {
                metadata: meta,
                spec: {
                    backoffLimit: 6,
                    activeDeadlineSeconds: 900,
                    template: {
                        metadata: {
                            labels: meta.labels,
                            annotations: { [`${labelPrefix}/script-sha256`]: scriptChecksum(script) },
                        },
                        spec: buildPodSpec(pod),
                    },
                },
            },
            { ...child, deleteBeforeReplace: true },
        );
        createNetworkPolicy(
            `${name}-provision-netpol`,
            meta,
            networkPolicySpec(
                { "app.kubernetes.io/name": provisionerIdentity.app },
                [],
                [{ peers: [{ app: postgresApp }], ports: [{ port: postgresPort }] }],
            ),
            child,
        );
    }
}
