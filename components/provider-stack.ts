import * as pulumi from "@pulumi/pulumi";
import { ProviderConfig } from "./config/provider-config";
import { ProviderEndpoints, providerEndpoints } from "./endpoints";
import { PostgresConsumer } from "./postgres/provision";
import { Postgres } from "./postgres/postgres";
import { createStackNamespace, kubernetesProvider } from "./stack-context";

export interface ProviderStackArgs {
    /** The validated provider configuration. */
    readonly config: ProviderConfig;
}

/** Services of the provider stack that keep data in its PostgreSQL. */
export const providerDatabaseConsumers: readonly PostgresConsumer[] = [
    { name: "keycloak", app: "keycloak" },
    { name: "bridge", app: "bridge" },
];

/**
 * The provider stack: one per platform. It owns the platform namespace and the shared services
 * (identity, metrics aggregation, the intermediate CA, tenant onboarding) that tenants plug into.
 */
export class ProviderStack extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly endpoints: ProviderEndpoints;
    public readonly postgres: Postgres;

    constructor(name: string, args: ProviderStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:stack:ProviderStack", name, {}, opts);
        const { config } = args;
        const provider = kubernetesProvider(name, config, this);
        const child: pulumi.ComponentResourceOptions = { parent: this, provider };
        const { namespace, context } = createStackNamespace(name, config, "cdm-provider", child);
        this.namespace = namespace.name;
        this.endpoints = providerEndpoints(config.domain);
        this.postgres = new Postgres(
            `${name}-postgres`,
            { context, config: config.postgres, consumers: providerDatabaseConsumers },
            child,
        );
        this.registerOutputs({
            namespace: this.namespace,
            endpoints: this.endpoints,
            postgres: this.postgres,
        });
    }
}
