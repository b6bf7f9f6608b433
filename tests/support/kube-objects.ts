/**
 * Kubernetes objects against a real API server: where each kind lives (from the server's own
 * discovery), and the plan's objects made fit to send (values only a deployment knows).
 */
import { KubeObject } from "../../tools/k8s-schema";
import { generatedMarker, unknownMarker } from "../../tools/mock-engine";
import { RunningApiServer } from "./kube-apiserver";

interface ApiResource {
    readonly plural: string;
    readonly namespaced: boolean;
}

/** The server's resources by `apiVersion/kind`. */
export interface ApiResources {
    readonly byKind: ReadonlyMap<string, ApiResource>;
    /** The collection path of `apiVersion/kind` in `namespace`. */
    listPath(kind: string, namespace: string): string;
}

/** Reads the server's discovery documents: the core group and every group's preferred version. */
export async function apiResources(server: RunningApiServer): Promise<ApiResources> {
    const byKind = new Map<string, ApiResource>();
    const add = async (groupVersion: string, path: string) => {
        const list = (await server.call("GET", path)).body as {
            resources: { name: string; kind: string; namespaced: boolean }[];
        };
        for (const r of list.resources) {
            if (r.name.includes("/")) continue; // subresources
            byKind.set(`${groupVersion}/${r.kind}`, { plural: r.name, namespaced: r.namespaced });
        }
    };
    await add("v1", "/api/v1");
    const groups = (await server.call("GET", "/apis")).body as {
        groups: { versions: { groupVersion: string }[] }[];
    };
    for (const group of groups.groups) {
        for (const { groupVersion } of group.versions) await add(groupVersion, `/apis/${groupVersion}`);
    }
    const listPath = (kind: string, namespace: string) => {
        const resource = byKind.get(kind);
        if (!resource) throw new Error(`the API server serves no ${kind}`);
        // "v1/Secret" is the core group; "apps/v1/Deployment" a named one.
        const groupVersion = kind.slice(0, kind.lastIndexOf("/"));
        const base = groupVersion.includes("/") ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
        return `${base}${resource.namespaced ? `/namespaces/${namespace}` : ""}/${resource.plural}`;
    };
    return { byKind, listPath };
}

const kindOf = (o: KubeObject) => `${o.apiVersion}/${o.kind}`;

/** The object's own path (`…/<plural>/<name>`). */
export function objectPath(resources: ApiResources, object: KubeObject): string {
    return `${resources.listPath(kindOf(object), object.metadata.namespace ?? "")}/${object.metadata.name}`;
}

/** The server-side apply path of the object (the test's field manager, taking every field). */
export function applyPath(resources: ApiResources, object: KubeObject): string {
    return `${objectPath(resources, object)}?fieldManager=cdm-engine-test&force=true`;
}

/** A certificate and key in PEM, standing in for one a deployment makes. */
export interface PlaceholderTls {
    readonly certPem: string;
    readonly keyPem: string;
}

/**
 * The plan's object as an API server can take it. The plan shows values only a deployment
 * knows (generated passwords, certificates) as markers; where the API requires base64 (a
 * Secret's or ConfigMap's binary `data`), the marker is sent base64-encoded, as the real value
 * would be, and a TLS Secret whose data the plan redacted whole gets its two required keys with
 * a throwaway certificate (the API server checks that they parse).
 * Everything else is sent exactly as the program rendered it.
 */
export function planValuesForServer(object: KubeObject, placeholderTls: PlaceholderTls): KubeObject {
    const record = object as KubeObject & {
        data?: Record<string, string>;
        binaryData?: Record<string, string>;
    };
    const encode = (values: Record<string, string> | undefined) =>
        values &&
        Object.fromEntries(
            Object.entries(values).map(([key, value]) => [
                key,
                value.includes(unknownMarker) || value.includes(generatedMarker)
                    ? Buffer.from(value).toString("base64")
                    : value,
            ]),
        );
    if (object.kind === "Secret") {
        // A TLS Secret whose certificate is made at deploy: the plan redacts its whole data.
        const tls = (record as { type?: string }).type === "kubernetes.io/tls";
        const data = {
            ...(tls
                ? {
                      "tls.crt": Buffer.from(placeholderTls.certPem).toString("base64"),
                      "tls.key": Buffer.from(placeholderTls.keyPem).toString("base64"),
                  }
                : {}),
            ...record.data,
        };
        return { ...record, data: encode(data) } as KubeObject;
    }
    if (object.kind === "ConfigMap" && record.binaryData) {
        return { ...record, binaryData: encode(record.binaryData) } as KubeObject;
    }
    return object;
}
