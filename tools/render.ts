/**
 * Turns recorded resources into the Kubernetes objects they describe, and writes them as YAML.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { KubeObject } from "./k8s-schema";
import { RecordedResource } from "./mock-engine";

/** True for resources that are Kubernetes objects (not providers or components). */
export function isKubeObject(resource: RecordedResource): boolean {
    return (
        resource.custom &&
        resource.type.startsWith("kubernetes:") &&
        !resource.type.startsWith("pulumi:providers:")
    );
}

/** Drops undefined values so the YAML shows exactly what the API server would receive. */
function clean(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(clean);
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(
            Object.entries(value)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => [k, clean(v)]),
        );
    }
    return value;
}

/** Annotation the plan adds where a whole field is secret and partly unknown until deployment. */
export const redactedFieldAnnotation = "plan.cdm-platform.dev/redacted";

/**
 * The Kubernetes object a resource describes, with secret values redacted. When a Secret's data
 * holds a value only a deployment knows, the SDK makes the whole field one secret: the plan then
 * shows the field empty and says so in an annotation, so the YAML stays valid.
 */
export function toKubeObject(resource: RecordedResource): KubeObject {
    const object = clean(resource.inputs) as KubeObject & Record<string, unknown>;
    const redacted = ["data", "stringData"].filter((field) => typeof object[field] === "string");
    if (object.kind !== "Secret" || redacted.length === 0) {
        return object;
    }
    const annotations = {
        ...object.metadata.annotations,
        [redactedFieldAnnotation]: `${redacted.join(", ")}: secret, known after deploy`,
    };
    return {
        ...object,
        metadata: { ...object.metadata, annotations },
        ...Object.fromEntries(redacted.map((field) => [field, {}])),
    };
}

/** All Kubernetes objects of an evaluation, in registration order. */
export function kubeObjects(resources: readonly RecordedResource[]): KubeObject[] {
    return resources.filter(isKubeObject).map(toKubeObject);
}

/** File name of an object: `<kind>-<name>.yaml`, lower case. */
export function objectFileName(object: KubeObject): string {
    return `${object.kind}-${object.metadata.name ?? "unnamed"}.yaml`.toLowerCase();
}

/** Writes each object as YAML under `dir`; returns the file names. */
export function writeObjects(dir: string, objects: readonly KubeObject[]): string[] {
    mkdirSync(dir, { recursive: true });
    return objects.map((object) => {
        const file = objectFileName(object);
        writeFileSync(join(dir, file), stringify(object, { lineWidth: 0 }));
        return file;
    });
}
