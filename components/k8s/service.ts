import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StackContext } from "./context";

/** A port a Service exposes. */
export interface ServicePortSpec {
    readonly name: string;
    readonly port: number;
    /** Container port name or number; defaults to `port`. */
    readonly targetPort?: number | string;
    readonly protocol?: "TCP" | "UDP";
}

/** The spec of a Service selecting `selector`; headless for StatefulSets, LoadBalancer for layer-4 endpoints. */
export function serviceSpec(
    selector: Readonly<Record<string, string>>,
    ports: readonly ServicePortSpec[],
    type: "ClusterIP" | "Headless" | "LoadBalancer" = "ClusterIP",
) {
    return {
        type: type === "Headless" ? "ClusterIP" : type,
        ...(type === "Headless" ? { clusterIP: "None", publishNotReadyAddresses: true } : {}),
        // Keep client source addresses on layer-4 endpoints (devices are identified by them in logs).
        ...(type === "LoadBalancer" ? { externalTrafficPolicy: "Local" } : {}),
        selector: { ...selector },
        ports: ports.map((p) => ({
            name: p.name,
            port: p.port,
            targetPort: p.targetPort ?? p.port,
            protocol: p.protocol ?? "TCP",
        })),
    };
}

/** The in-cluster DNS name of Service `name` in `namespace`. */
export function serviceHost(name: string, namespace: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.interpolate`${name}.${namespace}.svc.cluster.local`;
}

/** One HTTP route of an Ingress. */
export interface IngressRoute {
    readonly host: string;
    readonly path: string;
    readonly service: string;
    readonly port: number;
}

/** The TLS Secret of Ingress `name`: cert-manager's ingress-shim fills it, or it is provided out of band. */
export function ingressTlsSecret(name: string): string {
    return `${name}-tls`;
}

/**
 * The spec and annotations of an Ingress with TLS for every host. With a cert-manager issuer the
 * certificate is requested automatically; otherwise the TLS Secret `<name>-tls` is expected.
 */
export function ingressSpec(
    ctx: Pick<StackContext, "ingress">,
    name: string,
    routes: readonly IngressRoute[],
) {
    if (routes.length === 0) {
        throw new Error(`Ingress ${name} needs at least one route`);
    }
    const hosts = [...new Set(routes.map((r) => r.host))].sort();
    return {
        annotations: {
            ...(ctx.ingress.tlsIssuer ? { "cert-manager.io/cluster-issuer": ctx.ingress.tlsIssuer } : {}),
        },
        spec: {
            ingressClassName: ctx.ingress.className,
            tls: [{ hosts, secretName: ingressTlsSecret(name) }],
            rules: hosts.map((host) => ({
                host,
                http: {
                    paths: routes
                        .filter((r) => r.host === host)
                        .map((r) => ({
                            path: r.path,
                            pathType: "Prefix",
                            backend: { service: { name: r.service, port: { number: r.port } } },
                        })),
                },
            })),
        },
    };
}

/** Creates an Ingress for the routes, named `metadata.name`. */
export function createIngress(
    name: string,
    ctx: StackContext,
    metadata: {
        name: string;
        namespace: pulumi.Input<string>;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
    },
    routes: readonly IngressRoute[],
    opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.Ingress {
    const { annotations, spec } = ingressSpec(ctx, metadata.name, routes);
    return new k8s.networking.v1.Ingress(
        name,
        { metadata: { ...metadata, annotations: { ...metadata.annotations, ...annotations } }, spec },
        opts,
    );
}
