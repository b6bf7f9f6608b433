import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "./config/common-config";
import { StackContext } from "./k8s/context";
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
    const namespace = new StackNamespace(
        `${name}-namespace`,
        {
            name: config.namespace,
            partOf,
            tenantId: tenant?.id,
            podSecurity: "restricted",
            quota: tenant?.quota,
            skipAwait: config.skipAwait,
            protect: config.protectData,
        },
        opts,
    );
    const context: StackContext = {
        namespace: namespace.name,
        podSecurity: "restricted",
        partOf,
        tenantId: tenant?.id,
        skipAwait: config.skipAwait,
        storageClassName: config.storageClassName,
        imageRegistryMirror: config.imageRegistryMirror,
        ingress: config.ingress,
    };
    return { namespace, context };
}
