/**
 * The provider bridge's onboarding API, as both sides use it: tenant stacks call it (from
 * dynamic resources) for their Sub-CA, federation client and AMQP publisher; the provider bridge
 * serves it. Authenticated by the tenant's own onboarding credential as a bearer token.
 */

/**
 * Path of a tenant's Sub-CA: POST signs a CSR; DELETE with `?serial=<hex>` revokes exactly that
 * Sub-CA certificate (a replaced Sub-CA's removal must not revoke its successor).
 */
export function subCaPath(tenantId: string): string {
    return `/v1/tenants/${encodeURIComponent(tenantId)}/sub-ca`;
}

/** Body of `POST /v1/tenants/{tenantId}/sub-ca`. */
export interface SubCaRequest {
    /**
     * PKCS#10 request (PEM) for the tenant's Sub-CA key: CN `subCaCommonName(tenantId)`, DNS names
     * exactly `subCaPermittedNames(tenantId, namespace)` (runtime/shared/pki-names.ts), which the
     * certificate carries as its name constraints.
     */
    readonly csr_pem: string;
}

/** Answer to `POST /v1/tenants/{tenantId}/sub-ca`. */
export interface SubCaResponse {
    /** The Sub-CA certificate (PEM): a CA with path length 0, issued by the provider intermediate. */
    readonly certificate_pem: string;
    /** The chain above it, issuer first, root excluded (PEMs). */
    readonly chain_pem: readonly string[];
}

/** Path of a tenant's federation client in the platform realm: POST creates (or returns) it, DELETE removes it. */
export function federationClientPath(tenantId: string): string {
    return `/v1/tenants/${encodeURIComponent(tenantId)}/federation-client`;
}

/** Body of `POST /v1/tenants/{tenantId}/federation-client`. */
export interface FederationClientRequest {
    /** The tenant realm's broker endpoint, the client's only redirect URI. */
    readonly redirect_uri: string;
}

/** Answer to `POST /v1/tenants/{tenantId}/federation-client`. */
export interface FederationClientResponse {
    readonly client_id: string;
    readonly client_secret: string;
}

/** Path of a tenant's AMQP publisher: POST creates it or rotates its password, DELETE removes it. */
export function amqpPublisherPath(tenantId: string): string {
    return `/v1/tenants/${encodeURIComponent(tenantId)}/amqp-publisher`;
}

/** Answer to `POST /v1/tenants/{tenantId}/amqp-publisher`: where and as whom ThingsBoard publishes. */
export interface AmqpPublisherResponse {
    readonly username: string;
    /** New on every call: the previous password stops working. */
    readonly password: string;
    readonly vhost: string;
    readonly exchange: string;
    /** Every routing key must start with it: `tenant.<id>.` */
    readonly routing_key_prefix: string;
}

/** The provider RabbitMQ's vhost for metrics from tenants. */
export const metricsVhost = "cdm-metrics";
/** The topic exchange tenants publish their selected metrics to (routing key `tenant.<id>.<device>`). */
export const telemetryExchange = "cdm.telemetry";
/**
 * The keys of a rule chain's message besides its metrics:
 * `{"tenant":"<id>","device":"<name>","ts":<unix ms>,"<metric>":<number>,…}`.
 */
export const telemetryMessageKeys = { tenant: "tenant", device: "device", timestamp: "ts" } as const;
