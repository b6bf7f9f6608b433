import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "./config/common-config";
import { TenantConfig } from "./config/tenant-config";
import { PodSecurityLevel, StackContext } from "./k8s/context";
import { NamespaceQuota, StackNamespace } from "./k8s/namespace";

/**
 * The stack's explicit Kubernetes provider, always created: with `cdm:kubeconfig` it targets that
 * cluster, without it the ambient kubeconfig. Switching a resource between the default and an
 * explicit provider would replace it, so adding a kubeconfig later must not change providers.
 */
export function kubernetesProvider(
    name: string,
    config: CommonConfig,
    parent: pulumi.ComponentResource,
): k8s.Provider {
    return new k8s.Provider(
        `${name}-kubernetes`,
        { ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}), enableServerSideApply: true },
        { parent },
    );
}

/** Creates the stack's namespace and returns the context every service component receives. */
export function createStackNamespace(
    name: string,
    config: CommonConfig,
    partOf: string,
    opts: pulumi.ComponentResourceOptions,
    tenant?: { id: string; quota: NamespaceQuota },
): { namespace: StackNamespace; context: StackContext } {
    return namespaceWithContext(`${name}-namespace`, config, {
        name: config.namespace,
        podSecurity: "restricted",
        partOf,
        tenant,
        opts,
    });
}

/** What the VPN namespace may consume: one WireGuard pod with its sidecars. */
export const vpnQuota: NamespaceQuota = { cpu: "4", memory: "2Gi", storage: "1Gi" };

/**
 * The tenant's VPN namespace, beside its own: privileged, because the WireGuard server needs
 * NET_ADMIN, which no other Pod Security level admits; otherwise the same default-deny rules.
 * Only the WireGuard workload runs there, so the exception widens nothing else.
 */
export function createVpnNamespace(
    name: string,
    config: TenantConfig,
    opts: pulumi.ComponentResourceOptions,
): { namespace: StackNamespace; context: StackContext } {
    return namespaceWithContext(`${name}-vpn-namespace`, config, {
        name: config.vpnNamespace,
        podSecurity: "privileged",
        partOf: `cdm-tenant-${config.tenantId}`,
        tenant: { id: config.tenantId, quota: vpnQuota },
        opts,
    });
}

function namespaceWithContext(
    name: string,
    config: CommonConfig,
    args: {
        name: string;
        podSecurity: PodSecurityLevel;
        partOf: string;
        tenant?: { id: string; quota: NamespaceQuota };
        opts: pulumi.ComponentResourceOptions;
    },
): { namespace: StackNamespace; context: StackContext } {
    const namespace = new StackNamespace(
        name,
        {
            name: args.name,
            partOf: args.partOf,
            tenantId: args.tenant?.id,
            podSecurity: args.podSecurity,
            quota: args.tenant?.quota,
            skipAwait: config.skipAwait,
            protect: config.protectData,
        },
        args.opts,
    );
    const context: StackContext = {
        namespace: namespace.name,
        podSecurity: args.podSecurity,
        partOf: args.partOf,
        tenantId: args.tenant?.id,
        skipAwait: config.skipAwait,
        storageClassName: config.storageClassName,
        imageRegistryMirror: config.imageRegistryMirror,
        ingress: config.ingress,
    };
    return { namespace, context };
}
