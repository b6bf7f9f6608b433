import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "../config/common-config";

/** Prefix of the platform's own labels and annotations. */
export const labelPrefix = "cdm-platform.dev";

/** What every service component needs to know about the stack it is deployed into. */
export interface StackContext {
    /** The stack's namespace, taken from the Namespace resource so objects are created after it. */
    readonly namespace: pulumi.Input<string>;
    /** `app.kubernetes.io/part-of` of every object: `cdm-provider` or `cdm-tenant-<id>`. */
    readonly partOf: string;
    /** The tenant id, on tenant stacks only; added to every object as a label. */
    readonly tenantId?: string;
    /** Set `pulumi.com/skipAwait` on objects whose readiness Pulumi would otherwise wait for. */
    readonly skipAwait: boolean;
    readonly storageClassName?: string;
    readonly imageRegistryMirror?: string;
    readonly ingress: CommonConfig["ingress"];
}

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
export function selectorLabels(ctx: StackContext, id: AppIdentity): Record<string, string> {
    return { "app.kubernetes.io/name": id.app, "app.kubernetes.io/instance": `${ctx.partOf}-${id.app}` };
}

/** The full label set for an application's objects. */
export function appLabels(ctx: StackContext, id: AppIdentity): Record<string, string> {
    return {
        ...selectorLabels(ctx, id),
        "app.kubernetes.io/component": id.component,
        "app.kubernetes.io/part-of": ctx.partOf,
        "app.kubernetes.io/managed-by": "pulumi",
        ...(id.version ? { "app.kubernetes.io/version": labelValue(id.version) } : {}),
        ...(ctx.tenantId ? { [`${labelPrefix}/tenant`]: ctx.tenantId } : {}),
    };
}

/** Annotations Pulumi reads: skipAwait where the stack asks for it. */
export function awaitAnnotations(ctx: StackContext): Record<string, string> {
    return ctx.skipAwait ? { "pulumi.com/skipAwait": "true" } : {};
}

/** Object metadata for an application's object named `name`. */
export function objectMeta(
    ctx: StackContext,
    id: AppIdentity,
    name: string,
    annotations: Record<string, string> = {},
): { name: string; namespace: pulumi.Input<string>; labels: Record<string, string>; annotations?: Record<string, string> } {
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
    return text.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}
