import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parseIpv4Cidr } from "../config/validate";

/** Who may talk to whom: pods of an app, a namespace (optionally one app in it), or a CIDR. */
export type Peer =
    | { readonly app: string }
    | { readonly namespace: string; readonly podLabels?: Readonly<Record<string, string>> }
    | { readonly cidr: string; readonly except?: readonly string[] };

/** A port with its protocol (TCP unless said otherwise). */
export interface PortSpec {
    readonly port: number | string;
    readonly protocol?: "TCP" | "UDP";
}

/** One explicit allow: these peers, these ports. An empty peer list means anyone. */
export interface Allow {
    readonly peers: readonly Peer[];
    readonly ports: readonly PortSpec[];
}

/** Renders a peer as a NetworkPolicy peer. `app` selects `app.kubernetes.io/name` in the same namespace. */
export function renderPeer(peer: Peer) {
    if ("app" in peer) {
        return { podSelector: { matchLabels: { "app.kubernetes.io/name": peer.app } } };
    }
    if ("namespace" in peer) {
        return {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": peer.namespace } },
            ...(peer.podLabels ? { podSelector: { matchLabels: { ...peer.podLabels } } } : {}),
        };
    }
    for (const cidr of [peer.cidr, ...(peer.except ?? [])]) {
        if (typeof parseIpv4Cidr(cidr) === "string") {
            throw new Error(`network policy peer ${cidr} is not an IPv4 CIDR`);
        }
    }
    return { ipBlock: { cidr: peer.cidr, ...(peer.except?.length ? { except: [...peer.except] } : {}) } };
}

function renderPorts(ports: readonly PortSpec[]) {
    return ports.map((p) => ({ port: p.port, protocol: p.protocol ?? "TCP" }));
}

/**
 * The spec of a policy selecting `podLabels` that allows exactly the given traffic. A direction
 * with nothing allowed has no rule list at all (its policy type alone denies it): the API server
 * stores an empty list as absent, so an empty one would differ from the stored object at every
 * apply.
 */
export function networkPolicySpec(
    podLabels: Readonly<Record<string, string>>,
    ingress: readonly Allow[],
    egress: readonly Allow[],
) {
    return {
        podSelector: { matchLabels: { ...podLabels } },
        policyTypes: ["Ingress", "Egress"],
        ...(ingress.length
            ? {
                  ingress: ingress.map((a) => ({
                      ...(a.peers.length ? { from: a.peers.map(renderPeer) } : {}),
                      ports: renderPorts(a.ports),
                  })),
              }
            : {}),
        ...(egress.length
            ? {
                  egress: egress.map((a) => ({
                      ...(a.peers.length ? { to: a.peers.map(renderPeer) } : {}),
                      ports: renderPorts(a.ports),
                  })),
              }
            : {}),
    };
}

/** Deny everything in and out of every pod of the namespace; all traffic is then allowed explicitly. */
export function defaultDenySpec() {
    return { podSelector: {}, policyTypes: ["Ingress", "Egress"] };
}

const dnsAllow: Allow = {
    peers: [{ namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } }],
    ports: [
        { port: 53, protocol: "UDP" },
        { port: 53, protocol: "TCP" },
    ],
};

/** Let every pod of the namespace resolve names through the cluster DNS (kube-system/kube-dns). */
export function dnsEgressSpec() {
    const { egress } = networkPolicySpec({}, [], [dnsAllow]);
    return { podSelector: {}, policyTypes: ["Egress"], egress };
}

/** Creates a NetworkPolicy object. */
export function createNetworkPolicy(
    name: string,
    metadata: { name: string; namespace: pulumi.Input<string>; labels?: Record<string, string> },
    spec: k8s.types.input.networking.v1.NetworkPolicySpec,
    opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy {
    return new k8s.networking.v1.NetworkPolicy(name, { metadata, spec }, opts);
}
