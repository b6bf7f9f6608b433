import * as pulumi from "@pulumi/pulumi";
import { TenantConfig } from "./config/tenant-config";
import { ProviderEndpoints, TenantEndpoints, tenantEndpoints } from "./endpoints";
import { PostgresConsumer } from "./postgres/provision";
import { Postgres } from "./postgres/postgres";
import { createStackNamespace, kubernetesProvider } from "./stack-context";

export interface TenantStackArgs {
    /** The validated tenant configuration. */
    readonly config: TenantConfig;
}

/** Services of a tenant stack that keep data in its PostgreSQL. */
export const tenantDatabaseConsumers: readonly PostgresConsumer[] = [
    { name: "thingsboard", app: "thingsboard" },
    { name: "hawkbit", app: "hawkbit" },
    { name: "keycloak", app: "keycloak" },
    { name: "bridge", app: "bridge" },
];

/**
 * A tenant stack: one per tenant, in its own namespace with a quota, reading the provider stack
 * through a StackReference for what the tenant shares with the platform.
 */
export class TenantStack extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly endpoints: TenantEndpoints;
    /** The provider stack's public endpoints, as the provider exported them. */
    public readonly providerEndpoints: pulumi.Output<ProviderEndpoints>;
    public readonly postgres: Postgres;

    constructor(name: string, args: TenantStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:stack:TenantStack", name, {}, opts);
        const { config } = args;
        const providerStack = new pulumi.StackReference(
            `${name}-provider`,
            { name: config.providerStack },
            { parent: this },
        );
        this.providerEndpoints = providerStack.requireOutput("endpoints") as pulumi.Output<ProviderEndpoints>;
        const provider = kubernetesProvider(name, config, this);
        const child: pulumi.ComponentResourceOptions = { parent: this, provider };
        const { namespace, context } = createStackNamespace(
            name,
            config,
            `cdm-tenant-${config.tenantId}`,
            child,
            {
                id: config.tenantId,
                quota: config.quota,
            },
        );
        this.namespace = namespace.name;
        this.endpoints = tenantEndpoints(config.domain, config.tenantId, config.wireguard.port);
        this.postgres = new Postgres(
            `${name}-postgres`,
            { context, config: config.postgres, consumers: tenantDatabaseConsumers },
            child,
        );
        this.registerOutputs({
            namespace: this.namespace,
            endpoints: this.endpoints,
            providerEndpoints: this.providerEndpoints,
            postgres: this.postgres,
        });
    }
}
