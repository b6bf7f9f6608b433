import { KeycloakAdmin } from "../../shared/keycloak-admin";
import { ApiError } from "../errors";
import { RabbitmqAdmin } from "../../shared/rabbitmq-admin";
import { TokenVerifier } from "../auth";
import { ProviderBridgeConfig } from "../config";
import { Database } from "../db/database";
import { SubCaSigning } from "../onboarding";

/** What the provider bridge's routes share. */
export interface ProviderRoutes {
    readonly db: Database;
    readonly provider: ProviderBridgeConfig;
    readonly verify: TokenVerifier;
    readonly signing: SubCaSigning;
    /** The platform realm's admin API; undefined when federation is not configured. */
    readonly keycloak?: KeycloakAdmin;
    /** The metrics RabbitMQ's management API; undefined when not configured. */
    readonly rabbitmq?: RabbitmqAdmin;
}

/** The routes of `subCaPath`, `federationClientPath` and `amqpPublisherPath` (runtime/shared/onboarding.ts); a unit test keeps them equal. */
export const subCaRoute = "/v1/tenants/:tenantId/sub-ca";
export const federationClientRoute = "/v1/tenants/:tenantId/federation-client";
export const amqpPublisherRoute = "/v1/tenants/:tenantId/amqp-publisher";

export const tenantParams = {
    type: "object",
    required: ["tenantId"],
    properties: { tenantId: { type: "string", minLength: 1, maxLength: 63 } },
} as const;

/** A peer the provider bridge may be configured without; its routes answer 501 then. */
export function configured<T>(peer: T | undefined, code: string, message: string): T {
    if (peer === undefined) throw new ApiError(501, code, message);
    return peer;
}
