/**
 * The engine tier's API-server half (DESIGN.md §6, tier 3): every Kubernetes object the sample
 * stacks declare, as the program renders it (`npm run plan`'s objects, with `cdm:skipAwait` on as
 * the tier's stacks set it), sent to a real kube-apiserver and etcd with server-side apply. The
 * real server's validation, defaulting and admission (Pod Security among them) must accept every
 * object without a warning; a second apply must change nothing; deleting them leaves the stacks'
 * namespaces empty. The Pulumi engine half cannot run here: see README, "Offline toolchain".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeObject } from "../../tools/k8s-schema";
import { kubeObjects } from "../../tools/render";
import {
    ApiResources,
    apiResources,
    applyPath,
    objectPath,
    planValuesForServer,
} from "../support/kube-objects";
import { RunningApiServer, startApiServer } from "../support/kube-apiserver";
import { localhostTls, rootCa } from "../support/pki";
import { rootProfile } from "../../components/pki/profile";
import { evaluateProvider, evaluateTenant } from "../support/stacks";

let server: RunningApiServer;
let resources: ApiResources;
const stacks: Record<"provider" | "tenant", KubeObject[]> = { provider: [], tenant: [] };

beforeAll(async () => {
    server = await startApiServer(19600 + Math.floor(Math.random() * 100) * 3);
    resources = await apiResources(server);
    const awaitOff = { "cdm:skipAwait": true };
    const tls = await localhostTls(await rootCa(rootProfile));
    const forServer = (objects: KubeObject[]) => objects.map((o) => planValuesForServer(o, tls));
    stacks.provider = forServer(kubeObjects((await evaluateProvider(awaitOff)).resources));
    stacks.tenant = forServer(kubeObjects((await evaluateTenant(awaitOff)).resources));
}, 600_000);

afterAll(async () => {
    await server?.stop();
});

/** Namespaces first (everything else lives in them), then in the program's order. */
const ordered = (objects: KubeObject[]) => [
    ...objects.filter((o) => o.kind === "Namespace"),
    ...objects.filter((o) => o.kind !== "Namespace"),
];

/**
 * Namespaces warn at Pod Security `restricted` even where an exception enforces less, so the
 * real admission plugin names what the exception allows: in the tenant's VPN namespace exactly
 * the WireGuard and peer-agent containers' documented root and NET_ADMIN/MKNOD, nothing of the
 * terminal proxy's.
 */
const expectedWarnings = {
    provider: [],
    tenant: [
        String.raw`Deployment cdm-tenant-acme-vpn/wireguard: 299 - "would violate PodSecurity \"restricted:latest\": ` +
            String.raw`unrestricted capabilities (containers \"wireguard\", \"peer-agent\" must not include \"MKNOD\", ` +
            String.raw`\"NET_ADMIN\" in securityContext.capabilities.add), runAsNonRoot != true (containers \"wireguard\", ` +
            String.raw`\"peer-agent\" must not set securityContext.runAsNonRoot=false), runAsUser=0 (containers ` +
            String.raw`\"wireguard\", \"peer-agent\" must not set runAsUser=0)"`,
    ],
};

const label = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;

describe.each(["provider", "tenant"] as const)("the %s stack on a real API server", (stack) => {
    const versions = new Map<string, string>();

    it("has every object accepted by server-side apply, warned of nothing but the documented exception", async () => {
        const objects = ordered(stacks[stack]);
        expect(objects.length).toBeGreaterThan(20);
        const refused: string[] = [];
        const warned: string[] = [];
        for (const object of objects) {
            const res = await server.call(
                "PATCH",
                applyPath(resources, object),
                object,
                "application/apply-patch+yaml",
            );
            if (res.status !== 200 && res.status !== 201)
                refused.push(`${label(object)}: ${res.status} ${res.body?.message}`);
            for (const w of res.warnings) warned.push(`${label(object)}: ${w}`);
            if (res.status < 300) versions.set(label(object), res.body.metadata.resourceVersion);
        }
        expect(refused).toEqual([]);
        expect(warned).toEqual(expectedWarnings[stack]);
        console.log(`${stack}: ${objects.length} objects accepted by ${server.version}`);
    });

    it("keeps every object as declared: present, with its labels and annotations", async () => {
        for (const object of stacks[stack]) {
            const res = await server.call("GET", objectPath(resources, object));
            expect(res.status, label(object)).toBe(200);
            expect(res.body.metadata.labels ?? {}, label(object)).toMatchObject(object.metadata.labels ?? {});
            expect(res.body.metadata.annotations ?? {}, label(object)).toMatchObject(
                object.metadata.annotations ?? {},
            );
        }
    });

    it("changes nothing when the same objects are applied again", async () => {
        const changed: string[] = [];
        for (const object of ordered(stacks[stack])) {
            const res = await server.call(
                "PATCH",
                applyPath(resources, object),
                object,
                "application/apply-patch+yaml",
            );
            expect(res.status, label(object)).toBe(200);
            if (res.body.metadata.resourceVersion !== versions.get(label(object)))
                changed.push(label(object));
        }
        expect(changed).toEqual([]);
    });

    it("leaves its namespaces empty once its objects are deleted", async () => {
        const objects = ordered(stacks[stack]).reverse();
        for (const object of objects.filter((o) => o.kind !== "Namespace")) {
            // Background: the object goes at once, its dependents (none here) would follow; the
            // default for Jobs (orphan) waits for the garbage collector, which does not run here.
            const res = await server.call(
                "DELETE",
                `${objectPath(resources, object)}?propagationPolicy=Background`,
            );
            expect([200, 202], label(object)).toContain(res.status);
        }
        const namespaces = objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name!);
        expect(namespaces.length).toBeGreaterThan(0);
        const kinds = new Set(
            stacks[stack].filter((o) => o.kind !== "Namespace").map((o) => `${o.apiVersion}/${o.kind}`),
        );
        for (const namespace of namespaces) {
            for (const kind of kinds) {
                const list = await server.call("GET", resources.listPath(kind, namespace));
                // No controller runs here (none adds a root CA ConfigMap or a default
                // ServiceAccount): whatever is left would be the stack's.
                const left = (list.body.items as { metadata: { name: string } }[]).map(
                    (item) => item.metadata.name,
                );
                expect(left, `${kind} in ${namespace}`).toEqual([]);
            }
            const gone = await server.call("DELETE", `/api/v1/namespaces/${namespace}`);
            expect(gone.status).toBe(200);
            expect(gone.body.status.phase).toBe("Terminating");
        }
    });
});
