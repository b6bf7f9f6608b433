import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { CommonConfig } from "../config/common-config";

/** Prefix of the platform's own labels and annotations. */
export const labelPrefix = "cdm-platform.dev";

/** What every service component needs to know about the stack it is deployed into. */
export interface StackContext {
    /**
     * The stack's namespace. It resolves only once the namespace and its default-deny policies
     * exist, so no pod of the stack can start before traffic is denied by default.
     */
    readonly namespace: pulumi.Input<string>;
    /** The Pod Security level the namespace enforces; workloads needing more are refused. */
    readonly podSecurity: PodSecurityLevel;
    /** `app.kubernetes.io/part-of` of every object: `cdm-provider` or `cdm-tenant-<id>`. */
    readonly partOf: string;
    /** The tenant id, on tenant stacks only; added to every object as a label. */
    readonly tenantId?: string;
    /** Set `pulumi.com/skipAwait` on objects whose readiness Pulumi would otherwise wait for. */
    readonly skipAwait: boolean;
    /** StorageClass of every claim; the cluster default when undefined. */
    readonly storageClassName?: string;
    /** Registry that replaces every image's registry; upstream when undefined. */
    readonly imageRegistryMirror?: string;
    /** The ingress controller and certificate issuer of the stack's HTTP endpoints. */
    readonly ingress: CommonConfig["ingress"];
}

/** Pod Security Standard levels, from most to least restrictive. */
export type PodSecurityLevel = "restricted" | "baseline" | "privileged";

/** The recommended `app.kubernetes.io/*` labels of one application's objects. */
export interface AppIdentity {
    /** `app.kubernetes.io/name`, also the name of the application's objects. */
    readonly app: string;
    /** `app.kubernetes.io/component`, for example `database` or `identity`. */
    readonly component: string;
    /** `app.kubernetes.io/version`, usually the image tag. */
    readonly version?: string;
}

/** Labels that select an application's pods; stable across upgrades. */
export function selectorLabels(ctx: Pick<StackContext, "partOf">, id: AppIdentity): Record<string, string> {
    return {
        "app.kubernetes.io/name": id.app,
        "app.kubernetes.io/instance": boundedLabel(`${ctx.partOf}-${id.app}`),
    };
}

/**
 * A label value of at most 63 characters: longer values keep their start and end in a stable
 * hash, so a long tenant id still yields a valid, unique instance label.
 */
export function boundedLabel(text: string): string {
    if (text.length <= 63) return text;
    const hash = createHash("sha256").update(text).digest("hex").slice(0, 8);
    return `${text.slice(0, 54).replace(/[^A-Za-z0-9]+$/, "")}-${hash}`;
}

/** Labels every object of a stack carries: ownership and, on tenant stacks, the tenant. */
export function stackLabels(ctx: Pick<StackContext, "partOf" | "tenantId">): Record<string, string> {
    return {
        "app.kubernetes.io/part-of": ctx.partOf,
        "app.kubernetes.io/managed-by": "pulumi",
        ...(ctx.tenantId ? { [`${labelPrefix}/tenant`]: ctx.tenantId } : {}),
    };
}

/** The full label set for an application's objects. */
export function appLabels(
    ctx: Pick<StackContext, "partOf" | "tenantId">,
    id: AppIdentity,
): Record<string, string> {
    return {
        ...selectorLabels(ctx, id),
        "app.kubernetes.io/component": id.component,
        ...(id.version ? { "app.kubernetes.io/version": labelValue(id.version) } : {}),
        ...stackLabels(ctx),
    };
}

/** Annotations Pulumi reads: skipAwait where the stack asks for it. */
export function awaitAnnotations(ctx: Pick<StackContext, "skipAwait">): Record<string, string> {
    return ctx.skipAwait ? { "pulumi.com/skipAwait": "true" } : {};
}

/** Object metadata for an application's object named `name`. */
export function objectMeta(
    ctx: StackContext,
    id: AppIdentity,
    name: string,
    annotations: Record<string, string> = {},
): {
    name: string;
    namespace: pulumi.Input<string>;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
} {
    const all = { ...awaitAnnotations(ctx), ...annotations };
    return {
        name,
        namespace: ctx.namespace,
        labels: appLabels(ctx, id),
        ...(Object.keys(all).length > 0 ? { annotations: all } : {}),
    };
}

/** A label value: at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric. */
export function labelValue(text: string): string {
    return text
        .replace(/[^A-Za-z0-9._-]/g, "_")
        .slice(0, 63)
        .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}
