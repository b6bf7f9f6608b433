import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels, objectMeta, selectorLabels, StackContext } from "./context";
import { Allow, createNetworkPolicy, networkPolicySpec } from "./network-policy";
import { buildPodSpec, podAnnotations, PodSpecArgs } from "./pod";
import { admits, requiredPodSecurity } from "./security";
import { serviceHost, ServicePortSpec, serviceSpec } from "./service";

/** A persistent volume of a StatefulSet, one claim per replica. */
export interface PersistentVolumeSpec {
    readonly name: string;
    readonly size: string;
}

export interface WorkloadArgs {
    /** The stack the workload runs in. */
    readonly context: StackContext;
    /** Name and labels; `identity.app` names every object of the workload. */
    readonly identity: AppIdentity;
    /** Deployment for stateless services, StatefulSet for anything with a volume per replica. */
    readonly kind: "Deployment" | "StatefulSet";
    /** Replica count (1 unless the service supports more). */
    readonly replicas?: number;
    /**
     * How a Deployment replaces its pods: `RollingUpdate` (default, a new pod before the old one
     * goes) or `Recreate` (the old pod goes first), for a single instance that must never run
     * twice (one that migrates its database or keeps an in-process cache of it).
     */
    readonly updateStrategy?: "RollingUpdate" | "Recreate";
    /** The pod template, rendered with the security baseline. */
    readonly pod: PodSpecArgs;
    /** Pod template annotations, for example a checksum that rolls the pods when config changes. */
    readonly podAnnotations?: Readonly<Record<string, pulumi.Input<string>>>;
    /** Per-replica volumes (StatefulSet only); mount them by name in a container. */
    readonly persistentVolumes?: readonly PersistentVolumeSpec[];
    /** Ports of the workload's Service; no Service when empty. */
    readonly servicePorts?: readonly ServicePortSpec[];
    /** Service type; StatefulSets get a headless Service unless told otherwise. */
    readonly serviceType?: "ClusterIP" | "Headless" | "LoadBalancer";
    /** Who may connect to the workload's pods. */
    readonly ingress: readonly Allow[];
    /** Where the workload's pods may connect to (DNS is allowed namespace-wide). */
    readonly egress: readonly Allow[];
}

function templateAnnotations(args: WorkloadArgs): Record<string, pulumi.Input<string>> | undefined {
    const all = { ...args.podAnnotations, ...podAnnotations(args.pod) };
    return Object.keys(all).length > 0 ? all : undefined;
}

/** What the workload builder renders, before any resource exists; tests call it directly. */
export function renderWorkload(args: WorkloadArgs, serviceAccountName: pulumi.Input<string>) {
    const { context: ctx, identity: id } = args;
    if (args.persistentVolumes?.length && args.kind !== "StatefulSet") {
        throw new Error(`${id.app}: persistent volumes need kind StatefulSet`);
    }
    if ((args.pod.restartPolicy ?? "Always") !== "Always") {
        throw new Error(`${id.app}: a ${args.kind} restarts its pods always; restartPolicy is for Jobs`);
    }
    const needed = requiredPodSecurity(args.pod.exceptions);
    if (!admits(ctx.podSecurity, needed)) {
        throw new Error(
            `${id.app}: its security exception needs Pod Security "${needed}", ` +
                `but the namespace enforces "${ctx.podSecurity}"; run it in a namespace of its own`,
        );
    }
    const selector = selectorLabels(ctx, id);
    const template = {
        metadata: { labels: appLabels(ctx, id), annotations: templateAnnotations(args) },
        spec: buildPodSpec({ ...args.pod, serviceAccountName }),
    };
    // Claim templates are immutable: only the stable selector labels, never the version.
    const claims = (args.persistentVolumes ?? []).map((v) => ({
        metadata: { name: v.name, labels: selector },
        spec: {
            accessModes: ["ReadWriteOnce"],
            ...(ctx.storageClassName ? { storageClassName: ctx.storageClassName } : {}),
            resources: { requests: { storage: v.size } },
        },
    }));
    const spec =
        args.kind === "StatefulSet"
            ? {
                  serviceName: id.app,
                  replicas: args.replicas ?? 1,
                  podManagementPolicy: "OrderedReady",
                  selector: { matchLabels: selector },
                  template,
                  ...(claims.length ? { volumeClaimTemplates: claims } : {}),
              }
            : {
                  replicas: args.replicas ?? 1,
                  selector: { matchLabels: selector },
                  strategy:
                      args.updateStrategy === "Recreate"
                          ? { type: "Recreate" }
                          : { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
                  template,
              };
    const serviceType = args.serviceType ?? (args.kind === "StatefulSet" ? "Headless" : "ClusterIP");
    return {
        spec,
        service: args.servicePorts?.length
            ? serviceSpec(selector, args.servicePorts, serviceType)
            : undefined,
        networkPolicy: networkPolicySpec(selector, args.ingress, args.egress),
    };
}

/**
 * A Deployment or StatefulSet with the platform's security baseline, its own ServiceAccount (no
 * token mounted), an optional Service and a NetworkPolicy that allows exactly the declared
 * traffic. Any departure from the baseline is an explicit, annotated entry of `pod.exceptions`.
 */
export class Workload extends pulumi.ComponentResource {
    /** Name of the Service (equal to the app name), when there is one. */
    public readonly serviceName?: pulumi.Output<string>;
    /** In-cluster DNS name of the Service. */
    public readonly host?: pulumi.Output<string>;
    /** The Deployment or StatefulSet. */
    public readonly workload: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet;

    constructor(name: string, args: WorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:k8s:Workload", name, {}, opts);
        const { context: ctx, identity: id } = args;
        const child = { parent: this };
        const account = new k8s.core.v1.ServiceAccount(
            `${name}-sa`,
            { metadata: objectMeta(ctx, id, id.app), automountServiceAccountToken: false },
            child,
        );
        const rendered = renderWorkload(args, account.metadata.name);
        const metadata = objectMeta(ctx, id, id.app);
        this.workload =
            args.kind === "StatefulSet"
                ? new k8s.apps.v1.StatefulSet(`${name}-statefulset`, { metadata, spec: rendered.spec }, child)
                : new k8s.apps.v1.Deployment(`${name}-deployment`, { metadata, spec: rendered.spec }, child);
        if (rendered.service) {
            const service = new k8s.core.v1.Service(
                `${name}-service`,
                { metadata, spec: rendered.service },
                child,
            );
            this.serviceName = service.metadata.name;
            this.host = serviceHost(id.app, ctx.namespace);
        }
        createNetworkPolicy(`${name}-netpol`, objectMeta(ctx, id, id.app), rendered.networkPolicy, child);
        this.registerOutputs({ serviceName: this.serviceName, host: this.host, workload: this.workload });
    }
}
