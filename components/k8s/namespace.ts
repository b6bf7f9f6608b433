import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelPrefix } from "./context";
import { createNetworkPolicy, defaultDenySpec, dnsEgressSpec } from "./network-policy";

/** Pod Security Standard levels; `restricted` unless a documented exception needs less. */
export type PodSecurityLevel = "restricted" | "baseline" | "privileged";

/** Limits on what one namespace (one tenant) may consume. */
export interface NamespaceQuota {
    readonly cpu: string;
    readonly memory: string;
    readonly storage: string;
}

export interface StackNamespaceArgs {
    /** Namespace name. */
    readonly name: string;
    /** `app.kubernetes.io/part-of` of the namespace. */
    readonly partOf: string;
    /** Tenant id, labelled on tenant namespaces. */
    readonly tenantId?: string;
    /** Pod Security Standard enforced on the namespace. */
    readonly podSecurity: PodSecurityLevel;
    /** ResourceQuota and LimitRange for the namespace; none when undefined. */
    readonly quota?: NamespaceQuota;
    /** Set `pulumi.com/skipAwait` on the objects (API servers without nodes). */
    readonly skipAwait: boolean;
}

/** Namespace labels: the Pod Security level enforced, audited and warned, and ownership. */
export function namespaceLabels(args: StackNamespaceArgs): Record<string, string> {
    return {
        "pod-security.kubernetes.io/enforce": args.podSecurity,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": args.podSecurity,
        "pod-security.kubernetes.io/warn": args.podSecurity,
        "app.kubernetes.io/part-of": args.partOf,
        "app.kubernetes.io/managed-by": "pulumi",
        ...(args.tenantId ? { [`${labelPrefix}/tenant`]: args.tenantId } : {}),
    };
}

/** The ResourceQuota spec: limits on CPU, memory, storage and object counts. */
export function quotaSpec(quota: NamespaceQuota) {
    return {
        hard: {
            "limits.cpu": quota.cpu,
            "limits.memory": quota.memory,
            "requests.storage": quota.storage,
            persistentvolumeclaims: "20",
            "services.loadbalancers": "4",
            "services.nodeports": "0",
        },
    };
}

/** Defaults for containers that state no resources, so the quota never blocks a pod outright. */
export function limitRangeSpec() {
    return {
        limits: [
            {
                type: "Container",
                default: { cpu: "500m", memory: "512Mi" },
                defaultRequest: { cpu: "50m", memory: "64Mi" },
            },
        ],
    };
}

/**
 * The stack's namespace with the Pod Security level enforced, a default-deny NetworkPolicy (all
 * traffic is then allowed per workload), DNS egress for every pod, and optionally a quota.
 */
export class StackNamespace extends pulumi.ComponentResource {
    /** The namespace name, resolved once the Namespace exists. */
    public readonly name: pulumi.Output<string>;

    constructor(name: string, args: StackNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:k8s:StackNamespace", name, {}, opts);
        const child = { parent: this };
        const labels = { "app.kubernetes.io/part-of": args.partOf, "app.kubernetes.io/managed-by": "pulumi" };
        const annotations = args.skipAwait ? { "pulumi.com/skipAwait": "true" } : undefined;
        const namespace = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: args.name, labels: namespaceLabels(args), annotations } },
            child,
        );
        this.name = namespace.metadata.name;
        const meta = (objectName: string) => ({ name: objectName, namespace: this.name, labels, annotations });
        createNetworkPolicy(`${name}-default-deny`, meta("default-deny"), defaultDenySpec(), child);
        createNetworkPolicy(`${name}-allow-dns`, meta("allow-dns"), dnsEgressSpec(), child);
        if (args.quota) {
            new k8s.core.v1.ResourceQuota(`${name}-quota`, { metadata: meta("quota"), spec: quotaSpec(args.quota) }, child);
            new k8s.core.v1.LimitRange(`${name}-limits`, { metadata: meta("limits"), spec: limitRangeSpec() }, child);
        }
        this.registerOutputs({ name: this.name });
    }
}
