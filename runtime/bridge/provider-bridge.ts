import { FastifyInstance } from "fastify";
import { KeycloakAdmin } from "../shared/keycloak-admin";
import { RabbitmqAdmin } from "../shared/rabbitmq-admin";
import { amqpRoutes } from "./routes/amqp";
import { StepCaClient } from "../shared/step-ca";
import { buildApiServer } from "./app";
import { TokenVerifier } from "./auth";
import { BridgeConfig } from "./config";
import { Database } from "./db/database";
import { BridgeMetrics } from "./metrics";
import { federationRoutes } from "./routes/federation";
import { ProviderRoutes } from "./routes/provider-context";
import { tenantRoutes } from "./routes/tenants";

/** Everything the provider bridge's API is made of. */
export interface ProviderBridgeParts {
    readonly db: Database;
    readonly stepCa: StepCaClient;
    readonly config: BridgeConfig;
    readonly verify: TokenVerifier;
    readonly metrics: BridgeMetrics;
    readonly logLevel: string;
}

/** The provider bridge's API: tenant registration (platform admins) and onboarding (tenant stacks). */
export function providerBridgeApi(parts: ProviderBridgeParts): Promise<FastifyInstance> {
    const { config, db } = parts;
    const provider = config.provider!;
    const routes: ProviderRoutes = {
        db,
        provider,
        verify: parts.verify,
        signing: {
            db,
            stepCa: parts.stepCa,
            audienceHost: config.stepCa.audienceHost,
            provisioner: config.stepCa.provisioner,
            rootPem: config.stepCa.rootPem,
            intermediatePem: provider.intermediatePem,
        },
        ...(provider.keycloak ? { keycloak: new KeycloakAdmin(provider.keycloak) } : {}),
        ...(provider.rabbitmq ? { rabbitmq: new RabbitmqAdmin(provider.rabbitmq) } : {}),
    };
    return buildApiServer(
        config.listen,
        parts.metrics,
        parts.logLevel,
        "IoT Bridge API (provider)",
        (app) => {
            tenantRoutes(app, routes);
            federationRoutes(app, routes);
            amqpRoutes(app, routes);
        },
    );
}
