import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { awaitAnnotations, PodSecurityLevel, stackLabels } from "./context";
import { createNetworkPolicy, defaultDenySpec, dnsEgressSpec } from "./network-policy";

/** Limits on what one namespace (one tenant) may consume. */
export interface NamespaceQuota {
    readonly cpu: string;
    readonly memory: string;
    readonly storage: string;
}

export interface StackNamespaceArgs {
    /** Namespace name. */
    readonly name: string;
    /** `app.kubernetes.io/part-of` of the namespace and its objects. */
    readonly partOf: string;
    /** Tenant id, labelled on tenant namespaces. */
    readonly tenantId?: string;
    /** Pod Security Standard enforced on the namespace. */
    readonly podSecurity: PodSecurityLevel;
    /** ResourceQuota and LimitRange for the namespace; none when undefined. */
    readonly quota?: NamespaceQuota;
    /** Set `pulumi.com/skipAwait` on the objects (API servers without nodes). */
    readonly skipAwait: boolean;
    /** Protect the namespace from deletion: deleting it deletes every volume in it. */
    readonly protect: boolean;
}

/** Namespace labels: the Pod Security level enforced (audited and warned at restricted), and ownership. */
export function namespaceLabels(
    args: Pick<StackNamespaceArgs, "podSecurity" | "partOf" | "tenantId">,
): Record<string, string> {
    return {
        "pod-security.kubernetes.io/enforce": args.podSecurity,
        "pod-security.kubernetes.io/enforce-version": "latest",
        // Audit and warn at restricted even where an exception enforces less, so it stays visible.
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        ...stackLabels(args),
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
    /**
     * The namespace name, resolved only after the namespace, its policies and its quota exist:
     * objects placed with it can never run in a namespace that does not yet deny by default.
     */
    public readonly name: pulumi.Output<string>;

    constructor(name: string, args: StackNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:k8s:StackNamespace", name, {}, opts);
        const child = { parent: this };
        const labels = stackLabels(args);
        const annotations = args.skipAwait ? awaitAnnotations(args) : undefined;
        const namespace = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: args.name, labels: namespaceLabels(args), annotations } },
            { ...child, protect: args.protect },
        );
        const meta = (objectName: string) => ({
            name: objectName,
            namespace: namespace.metadata.name,
            labels,
            annotations,
        });
        const guards: pulumi.Resource[] = [
            createNetworkPolicy(`${name}-default-deny`, meta("default-deny"), defaultDenySpec(), child),
            createNetworkPolicy(`${name}-allow-dns`, meta("allow-dns"), dnsEgressSpec(), child),
        ];
        if (args.quota) {
            guards.push(
                new k8s.core.v1.ResourceQuota(
                    `${name}-quota`,
                    { metadata: meta("quota"), spec: quotaSpec(args.quota) },
                    child,
                ),
                new k8s.core.v1.LimitRange(
                    `${name}-limits`,
                    { metadata: meta("limits"), spec: limitRangeSpec() },
                    child,
                ),
            );
        }
        this.name = pulumi.all([namespace.metadata.name, ...guards.map((g) => g.urn)]).apply(([n]) => n);
        this.registerOutputs({ name: this.name });
    }
}
