import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "./config/common-config";
import { StackContext } from "./k8s/context";
import { NamespaceQuota, StackNamespace } from "./k8s/namespace";

/**
 * The explicit Kubernetes provider for a stack with `cdm:kubeconfig`; undefined uses the ambient
 * kubeconfig. Parented to the stack component so every child inherits it.
 */
export function kubernetesProvider(
    name: string,
    config: CommonConfig,
    parent: pulumi.ComponentResource,
): k8s.Provider | undefined {
    if (!config.kubeconfig) {
        return undefined;
    }
    return new k8s.Provider(`${name}-kubernetes`, { kubeconfig: config.kubeconfig, enableServerSideApply: true }, { parent });
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
        },
        opts,
    );
    const context: StackContext = {
        namespace: namespace.name,
        partOf,
        tenantId: tenant?.id,
        skipAwait: config.skipAwait,
        storageClassName: config.storageClassName,
        imageRegistryMirror: config.imageRegistryMirror,
        ingress: config.ingress,
    };
    return { namespace, context };
}
