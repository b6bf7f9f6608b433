/**
 * Validates rendered Kubernetes objects against the Kubernetes API schemas, from two npm packages
 * generated from the upstream OpenAPI document: `kubernetes-models` checks types, formats and
 * required fields; `@kubernetes/client-node`'s model type maps catch fields the API does not have
 * (a misspelt `readOnlyRootFileSystem` would otherwise be dropped silently by the API server).
 */

/** A Kubernetes object as the program renders it. */
export interface KubeObject {
    readonly apiVersion: string;
    readonly kind: string;
    readonly metadata: {
        readonly name?: string;
        readonly namespace?: string;
        readonly labels?: Readonly<Record<string, string>>;
        readonly annotations?: Readonly<Record<string, string>>;
    };
    readonly [field: string]: unknown;
}

type AttributeMap = readonly { name: string; baseName: string; type: string }[];
type ModelMap = Record<string, { attributeTypeMap?: AttributeMap }>;

let modelsPromise: Promise<ModelMap> | undefined;

function clientModels(): Promise<ModelMap> {
    modelsPromise ??= import(
        "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js" as string
    ) as Promise<ModelMap>;
    return modelsPromise;
}

/** The client-node model class of an apiVersion/kind, e.g. apps/v1 Deployment → V1Deployment. */
export function modelClassName(apiVersion: string, kind: string): string {
    const version = apiVersion.split("/").pop()!;
    return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

/** Fields that are not in the API schema, as JSON paths. */
export function unknownFields(models: ModelMap, type: string, value: unknown, path: string): string[] {
    if (value === null || value === undefined) return [];
    const array = /^Array<(.+)>$/.exec(type);
    if (array) {
        return Array.isArray(value)
            ? value.flatMap((v, i) => unknownFields(models, array[1], v, `${path}[${i}]`))
            : [];
    }
    const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
    if (map) {
        return typeof value === "object"
            ? Object.entries(value as object).flatMap(([k, v]) =>
                  unknownFields(models, map[1], v, `${path}.${k}`),
              )
            : [];
    }
    const attributes = models[type]?.attributeTypeMap;
    if (!attributes || typeof value !== "object") return [];
    return Object.entries(value as object).flatMap(([key, v]) => {
        const attribute = attributes.find((a) => a.baseName === key);
        return attribute ? unknownFields(models, attribute.type, v, `${path}.${key}`) : [`${path}.${key}`];
    });
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelName = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const labelValueSyntax = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kinds whose names must be DNS labels (RFC 1123), not just subdomains. */
const labelNamedKinds = ["Namespace", "Service"];

/** Names and labels the API server's own validation refuses (the OpenAPI schemas do not say). */
export function metadataProblems(object: KubeObject): string[] {
    const problems: string[] = [];
    const name = object.metadata?.name ?? "";
    const nameOk = labelNamedKinds.includes(object.kind)
        ? name.length <= 63 && dns1123Label.test(name)
        : name.length <= 253 && dns1123Subdomain.test(name);
    if (!nameOk) problems.push(`name "${name}" is not a valid ${object.kind} name`);
    const maps: Record<string, Readonly<Record<string, string>> | undefined> = {
        label: object.metadata?.labels,
    };
    const template = (object as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } })
        .spec?.template;
    if (template?.metadata?.labels) maps["pod template label"] = template.metadata.labels;
    for (const [what, labels] of Object.entries(maps)) {
        for (const [key, value] of Object.entries(labels ?? {})) {
            const [prefix, keyName] = key.includes("/") ? key.split("/", 2) : ["", key];
            const keyOk =
                keyName.length <= 63 &&
                labelName.test(keyName) &&
                (prefix === "" || (prefix.length <= 253 && dns1123Subdomain.test(prefix)));
            if (!keyOk) problems.push(`${what} key "${key}" is not a valid label key`);
            if (value.length > 63 || !labelValueSyntax.test(value))
                problems.push(`${what} ${key} value "${value}" is not a valid label value`);
        }
    }
    return problems;
}

/** Problems with one object; an empty list means the API server's schema accepts it. */
export async function validateKubeObject(object: KubeObject): Promise<string[]> {
    const [group, version] = object.apiVersion.includes("/")
        ? object.apiVersion.split("/")
        : ["", object.apiVersion];
    const modulePath = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
    const where = `${object.kind} ${object.metadata?.name ?? "(unnamed)"}`;
    let Model: (new (data: unknown) => { validate(): void }) | undefined;
    try {
        Model = ((await import(modulePath)) as Record<string, any>)[object.kind];
    } catch {
        Model = undefined;
    }
    if (!Model) {
        return [`${where}: ${object.apiVersion} ${object.kind} is not a Kubernetes API type`];
    }
    const problems: string[] = metadataProblems(object).map((p) => `${where}: ${p}`);
    try {
        new Model(object).validate();
    } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
    }
    const models = await clientModels();
    const className = modelClassName(object.apiVersion, object.kind);
    if (!models[className]) {
        problems.push(`${where}: no schema model ${className}`);
    } else {
        problems.push(
            ...unknownFields(models, className, object, "").map(
                (p) => `${where}: unknown field ${p.slice(1)}`,
            ),
        );
    }
    return problems;
}
