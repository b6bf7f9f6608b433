/**
 * The public addresses of each stack. Ingresses and layer-4 Services are bound to these names, and
 * the stacks export them, so a tenant stack and a device learn them from one place.
 */

/** Public endpoints of the provider stack, under `cdm:domain`. */
export interface ProviderEndpoints {
    /** OIDC issuer of the `platform` realm (Keycloak serves under `/auth`). */
    readonly identity: string;
    /** Provider IoT Bridge API (tenant onboarding, Sub-CA signing). */
    readonly bridge: string;
    /** RabbitMQ over TLS, vhost `cdm-metrics`. */
    readonly amqp: string;
    /** Platform Grafana. */
    readonly grafana: string;
}

/** Public endpoints of one tenant stack, under `<tenantId>.<cdm:domain>`. */
export interface TenantEndpoints {
    /** ThingsBoard UI and API. */
    readonly things: string;
    /** ThingsBoard MQTT over mutual TLS, for devices. */
    readonly mqtt: string;
    /** hawkBit: DDI for devices, management UI and API. */
    readonly ota: string;
    /** OIDC issuer of the tenant realm (Keycloak serves under `/auth`). */
    readonly identity: string;
    /** Tenant Grafana (device metrics). */
    readonly grafana: string;
    /** Tenant InfluxDB write endpoint, for device Telegraf. */
    readonly metrics: string;
    /** Terminal proxy WebSocket. */
    readonly terminal: string;
    /** Tenant IoT Bridge API (enrollment, devices). */
    readonly bridge: string;
    /** WireGuard server, host:port over UDP. */
    readonly vpn: string;
}

/** The provider stack's endpoints under `domain`. */
export function providerEndpoints(domain: string): ProviderEndpoints {
    return {
        identity: `https://auth.${domain}/auth/realms/platform`,
        bridge: `https://api.${domain}`,
        amqp: `amqps://amqp.${domain}:5671`,
        grafana: `https://grafana.${domain}`,
    };
}

/** A tenant stack's endpoints under `<tenantId>.<domain>`. */
export function tenantEndpoints(domain: string, tenantId: string, wireguardPort: number): TenantEndpoints {
    const base = `${tenantId}.${domain}`;
    return {
        things: `https://things.${base}`,
        mqtt: `mqtts://mqtt.${base}:8883`,
        ota: `https://ota.${base}`,
        identity: `https://auth.${base}/auth/realms/${tenantId}`,
        grafana: `https://grafana.${base}`,
        metrics: `https://metrics.${base}`,
        terminal: `wss://terminal.${base}/terminal`,
        bridge: `https://api.${base}`,
        vpn: `vpn.${base}:${wireguardPort}`,
    };
}
