import * as pulumi from "@pulumi/pulumi";
import { parseRole } from "./config/common-config";
import { loadProviderConfig } from "./config/provider-config";
import { pulumiRawConfig } from "./config/raw-config";
import { loadTenantConfig } from "./config/tenant-config";
import { Problems } from "./config/validate";
import { checkExternalPasswords } from "./postgres/render";
import { ProviderStack, providerDatabaseConsumers } from "./provider-stack";
import { TenantStack, tenantDatabaseConsumers } from "./tenant-stack";

/** The stack outputs, whatever the role; the keys are the contract other stacks and tools read. */
export type StackOutputs = Record<string, pulumi.Input<unknown>>;

/**
 * Builds the provider or tenant stack according to `cdm:role` and returns its outputs. All
 * configuration is validated before the first resource is created.
 */
export function runProgram(): StackOutputs {
    const problems = new Problems();
    const role = parseRole(pulumiRawConfig(), problems);
    problems.throwIfAny();
    if (role === "provider") {
        const config = loadProviderConfig();
        checkExternalPasswords(config.postgres, providerDatabaseConsumers);
        const stack = new ProviderStack("provider", { config });
        return {
            role,
            namespace: stack.namespace,
            endpoints: stack.endpoints,
            caCertificates: stack.caCertificates,
        };
    }
    const config = loadTenantConfig();
    checkExternalPasswords(config.postgres, tenantDatabaseConsumers);
    const stack = new TenantStack(`tenant-${config.tenantId}`, { config });
    return {
        role,
        tenantId: config.tenantId,
        namespace: stack.namespace,
        endpoints: stack.endpoints,
        providerEndpoints: stack.providerEndpoints,
        caCertificates: stack.caCertificates,
    };
}
