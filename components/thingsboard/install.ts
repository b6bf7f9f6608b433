import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { imageRef, images } from "../images";
import { AppIdentity, appLabels, boundedLabel, objectMeta, StackContext } from "../k8s/context";
import { createNetworkPolicy, networkPolicySpec } from "../k8s/network-policy";
import { buildPodSpec, EnvValue } from "../k8s/pod";
import { PostgresConnection } from "../postgres/postgres";
import {
    installCommand,
    installEnv,
    memory,
    schemaCheckCommand,
    thingsboardApp,
    thingsboardPaths,
    thingsboardUid,
} from "./settings";

/** What the install Job shares with tb-node: the image, its environment and configuration. */
export interface InstallJobInputs {
    readonly ctx: StackContext;
    readonly db: PostgresConnection;
    readonly image: string;
    readonly env: Readonly<Record<string, EnvValue>>;
    /** The ConfigMap with `thingsboard.conf` and `logback.xml`. */
    readonly config: pulumi.Input<string>;
}

export const installJobName = "thingsboard-install";
const installed = "/state/installed";
const identity: AppIdentity = {
    app: thingsboardApp,
    component: "schema-install",
    version: images.thingsboard.tag,
};

/**
 * Labels of the install pods: tb-node's name, which the database admits, but an instance of
 * their own, so tb-node's Service and NetworkPolicy never select them.
 */
export function installPodLabels(ctx: StackContext): Record<string, string> {
    return {
        ...appLabels(ctx, identity),
        "app.kubernetes.io/instance": boundedLabel(`${ctx.partOf}-${installJobName}`),
    };
}

/**
 * The schema install Job (`INSTALL_TB=true`, reference/components.md §1.2): tb-node's image,
 * environment and configuration, run once before the server starts (the server depends on it).
 * An init container with psql first checks for ThingsBoard's schema; when it exists the Job
 * succeeds without touching the database, so a re-created Job (a new image or setting) never
 * re-installs over live data. Upgrades between ThingsBoard versions are a deliberate step
 * (`UPGRADE_TB=true`, docs/telemetry.md), not something this Job does.
 */
export function createInstallJob(
    name: string,
    inputs: InstallJobInputs,
    opts: pulumi.CustomResourceOptions,
): k8s.batch.v1.Job {
    const { ctx, db } = inputs;
    const labels = installPodLabels(ctx);
    const meta = { ...objectMeta(ctx, identity, installJobName), labels };
    const caMount = db.caFile
        ? [{ volume: "postgres-ca", path: db.caFile, subPath: "ca.crt", readOnly: true }]
        : [];
    const pod = buildPodSpec({
        runAsUser: thingsboardUid,
        restartPolicy: "Never",
        volumes: [
            { name: "config", configMap: inputs.config },
            { name: "state", shared: { sizeLimit: "1Mi" } },
            ...(db.caFile ? [{ name: "postgres-ca", secret: db.secretName }] : []),
        ],
        initContainers: [
            {
                name: "schema-check",
                image: imageRef(images.postgres, ctx.imageRegistryMirror),
                command: schemaCheckCommand(installed),
                env: {
                    PGHOST: db.ref("host"),
                    PGPORT: db.ref("port"),
                    PGDATABASE: db.ref("database"),
                    PGUSER: db.ref("username"),
                    PGPASSWORD: db.ref("password"),
                    PGSSLMODE: db.ref("sslmode"),
                    ...(db.caFile ? { PGSSLROOTCERT: db.caFile } : {}),
                },
                resources: { cpu: "10m", memory: "32Mi", cpuLimit: "200m", memoryLimit: "64Mi" },
                mounts: [{ volume: "state", path: "/state" }, ...caMount],
            },
        ],
        containers: [
            {
                name: "install",
                image: inputs.image,
                command: installCommand(installed),
                env: { ...inputs.env, ...installEnv },
                resources: {
                    cpu: "500m",
                    memory: memory.request,
                    cpuLimit: "2",
                    memoryLimit: `${memory.limitMib}Mi`,
                },
                mounts: [
                    { volume: "config", path: thingsboardPaths.config, readOnly: true },
                    { volume: "state", path: "/state", readOnly: true },
                    ...caMount,
                ],
                scratch: [thingsboardPaths.tmp, thingsboardPaths.logs],
            },
        ],
    });
    const job = new k8s.batch.v1.Job(
        `${name}-install`,
        {
            metadata: meta,
            spec: {
                backoffLimit: 4,
                // The installer creates the schema and loads system data: minutes, not an hour.
                activeDeadlineSeconds: 1800,
                template: { metadata: { labels }, spec: pod },
            },
        },
        { ...opts, deleteBeforeReplace: true },
    );
    createNetworkPolicy(
        `${name}-install-netpol`,
        meta,
        networkPolicySpec(
            {
                "app.kubernetes.io/name": labels["app.kubernetes.io/name"],
                "app.kubernetes.io/instance": labels["app.kubernetes.io/instance"],
            },
            [],
            [db.egress],
        ),
        opts,
    );
    return job;
}
