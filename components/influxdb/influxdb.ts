import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { imageRef, images } from "../images";
import { AppIdentity, labelPrefix, objectMeta, StackContext } from "../k8s/context";
import { createNetworkPolicy, networkPolicySpec } from "../k8s/network-policy";
import { buildPodSpec } from "../k8s/pod";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { createIngress, ingressTlsSecret } from "../k8s/service";
import { Workload } from "../k8s/workload";
import { TenantServerCertificate, TenantServerCertificateArgs } from "../pki/tenant-server-certificate";
import {
    adminSecret,
    influxdbApp,
    influxdbEnv,
    influxdbPaths,
    influxdbPort,
    influxdbUid,
    InfluxSetup,
    tokenJobApp,
    tokenScript,
} from "./settings";

export interface InfluxDbArgs {
    /** The stack InfluxDB runs in. */
    readonly context: StackContext;
    /** Organisation, bucket, retention and scoped tokens (`tenantInfluxSetup`/`providerInfluxSetup`). */
    readonly setup: InfluxSetup;
    /** Size of the data volume (a Kubernetes quantity). */
    readonly storageSize: string;
    /** App labels of the in-cluster pods that query or write (Grafana, Telegraf). */
    readonly clients: readonly string[];
    /**
     * The devices' write endpoint (tenant stacks): its public origin and the Sub-CA that signs its
     * certificate (devices trust the platform root, as for hawkBit's DDI). None on the provider.
     */
    readonly publicWrite?: {
        readonly origin: string;
        readonly subCa: TenantServerCertificateArgs["subCa"];
    };
}

/** The only path the public endpoint publishes: line-protocol writes (the device token allows no more). */
export const publicInfluxPaths = ["/api/v2/write"] as const;
const identity: AppIdentity = { app: influxdbApp, component: "metrics", version: images.influxdb.tag };
const jobIdentity: AppIdentity = { app: tokenJobApp, component: "metrics", version: images.influxdb.tag };
const health = { http: { path: "/health", port: influxdbPort } };

/**
 * InfluxDB 2.9 as a one-replica StatefulSet (its TSM engine and bolt database on one volume;
 * InfluxDB OSS does not cluster), set up on first boot by the image's entrypoint with an admin
 * token from a Secret, plus a Job that makes the stack's least-privilege tokens (see
 * ./settings.ts `tokenScript`) and writes them into their Secrets. On tenants an Ingress
 * publishes the write API for devices' Telegraf.
 */
export class InfluxDb extends pulumi.ComponentResource {
    /** In-cluster URL (`http://influxdb.<ns>.svc.cluster.local:8086`). */
    public readonly url: pulumi.Output<string>;
    /** Names of the scoped-token Secrets (key `token`), by Secret name. */
    public readonly tokenSecrets: Record<string, pulumi.Output<string>> = {};
    /** The token Job; consumers of the tokens depend on it so they start with a token. */
    public readonly tokenJob: k8s.batch.v1.Job;

    constructor(name: string, args: InfluxDbArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:influxdb:InfluxDb", name, {}, opts);
        const { context: ctx, setup } = args;
        const child = { parent: this };
        const admin = createCredentialSecret(
            `${name}-admin`,
            objectMeta(ctx, identity, adminSecret.name),
            {
                [adminSecret.password]: generatedPassword(`${name}-admin-password`, child),
                [adminSecret.token]: generatedPassword(`${name}-admin-token`, child, 64),
            },
            child,
        );
        const adminName = admin.secret.metadata.name;
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "StatefulSet",
                pod: {
                    runAsUser: influxdbUid,
                    volumes: [{ name: "admin", secret: adminName }],
                    containers: [
                        {
                            name: "influxdb",
                            image: imageRef(images.influxdb, ctx.imageRegistryMirror),
                            env: influxdbEnv(setup),
                            ports: [{ name: "http", port: influxdbPort }],
                            resources: { cpu: "250m", memory: "512Mi", cpuLimit: "2", memoryLimit: "2Gi" },
                            // The first boot runs the setup on a side port before serving 8086.
                            startup: { ...health, periodSeconds: 10, failureThreshold: 60 },
                            readiness: health,
                            liveness: { ...health, periodSeconds: 20, failureThreshold: 6 },
                            mounts: [
                                { volume: "data", path: influxdbPaths.data },
                                { volume: "admin", path: influxdbPaths.admin, readOnly: true },
                            ],
                            // The entrypoint's setup writes the CLI's configuration there.
                            scratch: [influxdbPaths.cliConfig, "/tmp"],
                        },
                    ],
                },
                persistentVolumes: [{ name: "data", size: args.storageSize }],
                servicePorts: [{ name: "http", port: influxdbPort }],
                serviceType: "ClusterIP",
                ingress: [
                    {
                        peers: [
                            ...[...args.clients, tokenJobApp].map((app) => ({ app })),
                            ...(args.publicWrite ? [{ namespace: ctx.ingress.controllerNamespace }] : []),
                        ],
                        ports: [{ port: influxdbPort }],
                    },
                ],
                // One server: it calls no one.
                egress: [],
            },
            child,
        );
        this.url = pulumi.interpolate`http://${workload.host!}:${influxdbPort}`;
        for (const grant of setup.tokens) {
            // Made empty: the Job writes `token`. Pulumi never sets data, so an update keeps it.
            const secret = new k8s.core.v1.Secret(
                `${name}-${grant.secret.replace(/^influxdb-/, "")}`,
                {
                    metadata: objectMeta(ctx, identity, grant.secret),
                    type: "Opaque",
                    stringData: pulumi.secret({}),
                },
                { ...child, ignoreChanges: ["data", "stringData"] },
            );
            this.tokenSecrets[grant.secret] = secret.metadata.name;
        }
        this.tokenJob = this.tokenJobFor(name, args, adminName, workload, child);
        if (args.publicWrite) this.publicEndpoint(name, ctx, args.publicWrite, child);
        this.registerOutputs({ url: this.url, tokenSecrets: this.tokenSecrets });
    }

    /** The Job that makes the scoped tokens, with the right to patch exactly their Secrets. */
    private tokenJobFor(
        name: string,
        args: InfluxDbArgs,
        adminName: pulumi.Output<string>,
        workload: Workload,
        child: pulumi.CustomResourceOptions,
    ): k8s.batch.v1.Job {
        const { context: ctx, setup } = args;
        const meta = objectMeta(ctx, jobIdentity, tokenJobApp);
        const secretNames = setup.tokens.map((t) => t.secret);
        const account = new k8s.core.v1.ServiceAccount(
            `${name}-tokens-sa`,
            { metadata: meta, automountServiceAccountToken: false },
            child,
        );
        const role = new k8s.rbac.v1.Role(
            `${name}-tokens-role`,
            {
                metadata: meta,
                rules: [
                    { apiGroups: [""], resources: ["secrets"], resourceNames: secretNames, verbs: ["patch"] },
                ],
            },
            child,
        );
        new k8s.rbac.v1.RoleBinding(
            `${name}-tokens-binding`,
            {
                metadata: meta,
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
                subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: ctx.namespace }],
            },
            child,
        );
        const script = tokenScript(setup);
        const configMap = createConfigMap(`${name}-tokens-script`, meta, { "tokens.sh": script }, child);
        const spec = buildPodSpec({
            runAsUser: influxdbUid,
            serviceAccountName: account.metadata.name,
            restartPolicy: "Never",
            volumes: [
                { name: "script", configMap: configMap.metadata.name, mode: 0o555 },
                { name: "admin", secret: adminName },
                ...secretNames.map((s) => ({ name: s, secret: s })),
            ],
            containers: [
                {
                    name: "tokens",
                    image: imageRef(images.influxdb, ctx.imageRegistryMirror),
                    command: ["/bin/bash", `${influxdbPaths.script}/tokens.sh`],
                    env: { INFLUX_HOST: this.url },
                    resources: { cpu: "50m", memory: "64Mi", cpuLimit: "500m", memoryLimit: "256Mi" },
                    mounts: [
                        { volume: "script", path: influxdbPaths.script, readOnly: true },
                        { volume: "admin", path: influxdbPaths.admin, readOnly: true },
                        ...secretNames.map((s) => ({
                            volume: s,
                            path: `${influxdbPaths.tokens}/${s}`,
                            readOnly: true,
                        })),
                        { volume: "kube-api", path: influxdbPaths.kubeApi, readOnly: true },
                    ],
                    scratch: ["/tmp"],
                },
            ],
        });
        // The pod's one Kubernetes credential, explicit and short-lived, instead of the automount.
        const kubeApi = {
            name: "kube-api",
            projected: {
                sources: [
                    { serviceAccountToken: { path: "token", expirationSeconds: 600 } },
                    { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
                    {
                        downwardAPI: {
                            items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
                        },
                    },
                ],
            },
        };
        const job = new k8s.batch.v1.Job(
            `${name}-tokens`,
            {
                metadata: meta,
                spec: {
                    backoffLimit: 10,
                    activeDeadlineSeconds: 900,
                    template: {
                        metadata: {
                            labels: meta.labels,
                            annotations: { [`${labelPrefix}/script-sha256`]: sha256(script) },
                        },
                        spec: { ...spec, volumes: [...spec.volumes, kubeApi] },
                    },
                },
            },
            { ...child, deleteBeforeReplace: true, dependsOn: [workload] },
        );
        createNetworkPolicy(
            `${name}-tokens-netpol`,
            meta,
            networkPolicySpec(
                { "app.kubernetes.io/name": tokenJobApp },
                [],
                [
                    { peers: [{ app: influxdbApp }], ports: [{ port: influxdbPort }] },
                    // The Kubernetes API: its address depends on the cluster (443 on the
                    // Service, 6443 on the control plane behind it).
                    { peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port: 443 }, { port: 6443 }] },
                ],
            ),
            child,
        );
        return job;
    }

    /** The devices' write endpoint: the write API only, TLS from the tenant Sub-CA. */
    private publicEndpoint(
        name: string,
        ctx: StackContext,
        publicWrite: NonNullable<InfluxDbArgs["publicWrite"]>,
        child: pulumi.CustomResourceOptions,
    ): void {
        const host = new URL(publicWrite.origin).host;
        const certificate = new TenantServerCertificate(
            `${name}-tls`,
            {
                context: ctx,
                identity,
                secretName: ingressTlsSecret(influxdbApp),
                dnsNames: [host],
                subCa: publicWrite.subCa,
            },
            child,
        );
        createIngress(
            `${name}-ingress`,
            { ...ctx, ingress: { ...ctx.ingress, tlsIssuer: undefined } },
            objectMeta(ctx, identity, influxdbApp),
            publicInfluxPaths.map((path) => ({ host, path, service: influxdbApp, port: influxdbPort })),
            { ...child, dependsOn: [certificate] },
        );
    }
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}
