import { describe, expect, it } from "vitest";
import {
    defaultDenySpec,
    dnsEgressSpec,
    networkPolicySpec,
    renderPeer,
} from "../../components/k8s/network-policy";

describe("network policies", () => {
    it("renders peers", () => {
        expect(renderPeer({ app: "keycloak" })).toEqual({
            podSelector: { matchLabels: { "app.kubernetes.io/name": "keycloak" } },
        });
        expect(renderPeer({ namespace: "ingress-nginx" })).toEqual({
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } },
        });
        expect(renderPeer({ namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } })).toEqual({
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        });
        expect(renderPeer({ cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] })).toEqual({
            ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] },
        });
        expect(() => renderPeer({ cidr: "10.0.0.1/8" })).toThrow(
            "network policy peer 10.0.0.1/8 is not an IPv4 CIDR",
        );
    });

    it("allows exactly the declared traffic", () => {
        expect(
            networkPolicySpec(
                { "app.kubernetes.io/name": "postgres" },
                [{ peers: [{ app: "keycloak" }], ports: [{ port: 5432 }] }],
                [{ peers: [], ports: [{ port: 443 }] }],
            ),
        ).toEqual({
            podSelector: { matchLabels: { "app.kubernetes.io/name": "postgres" } },
            policyTypes: ["Ingress", "Egress"],
            ingress: [
                {
                    from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "keycloak" } } }],
                    ports: [{ port: 5432, protocol: "TCP" }],
                },
            ],
            egress: [{ ports: [{ port: 443, protocol: "TCP" }] }],
        });
    });

    it("denies everything by default and allows DNS namespace-wide", () => {
        expect(defaultDenySpec()).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
        expect(dnsEgressSpec()).toEqual({
            podSelector: {},
            policyTypes: ["Egress"],
            egress: [
                {
                    to: [
                        {
                            namespaceSelector: {
                                matchLabels: { "kubernetes.io/metadata.name": "kube-system" },
                            },
                            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
                        },
                    ],
                    ports: [
                        { port: 53, protocol: "UDP" },
                        { port: 53, protocol: "TCP" },
                    ],
                },
            ],
        });
    });
});
