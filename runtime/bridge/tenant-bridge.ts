import { FastifyInstance } from "fastify";
import { buildApiServer } from "./app";
import { ServiceCredentials, TokenVerifier } from "./auth";
import { ListenConfig, TenantBridgeConfig } from "./config";
import { LifecycleDeps } from "./enrollment";
import { BridgeMetrics } from "./metrics";
import { deviceRoutes } from "./routes/devices";
import { serviceRoutes } from "./routes/services";
import { thingsboardRoutes } from "./routes/thingsboard";
import { tokenRoutes } from "./routes/tokens";

/** Everything the tenant bridge's API is made of; main.ts builds it from the environment, tests by hand. */
export interface TenantBridgeParts {
    readonly deps: LifecycleDeps;
    readonly tenant: TenantBridgeConfig;
    readonly rootPem: string;
    /** Management routes' tokens: the bridge's audience and the tenant. */
    readonly verify: TokenVerifier;
    /** Tokens of ThingsBoard's logins, for its OAuth2 mapper: the tenant, any audience. */
    readonly verifyLogin: TokenVerifier;
    readonly metrics: BridgeMetrics;
    readonly listen: ListenConfig;
    readonly logLevel: string;
    /** Aborted when the bridge shuts down (ends long polls); never, when absent. */
    readonly shutdown?: AbortSignal;
}

/** The tenant bridge's API server (not yet listening). */
export function tenantBridgeApi(parts: TenantBridgeParts): Promise<FastifyInstance> {
    const { tenant } = parts;
    const routes = {
        deps: parts.deps,
        tenant,
        rootPem: parts.rootPem,
        verify: parts.verify,
        verifyLogin: parts.verifyLogin,
        metrics: parts.metrics,
        shutdown: parts.shutdown ?? new AbortController().signal,
        services: new ServiceCredentials({
            "terminal-proxy": tenant.serviceTokens.terminalProxy,
            "peer-agent": tenant.serviceTokens.peerAgent,
            thingsboard: tenant.serviceTokens.thingsboard,
        }),
    };
    return buildApiServer(
        parts.listen,
        parts.metrics,
        parts.logLevel,
        `IoT Bridge API (tenant ${tenant.tenantId})`,
        (app) => {
            deviceRoutes(app, routes);
            tokenRoutes(app, routes);
            serviceRoutes(app, routes);
            thingsboardRoutes(app, routes);
        },
    );
}
