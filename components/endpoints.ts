/**
 * The public addresses of each stack. Ingresses and layer-4 Services are bound to these names, and
 * the stacks export them, so a tenant stack and a device learn them from one place.
 */

/** Public endpoints of the provider stack, under `cdm:domain`. */
export interface ProviderEndpoints {
    /** Keycloak, realm `platform` (OIDC issuer base). */
    readonly identity: string;
    /** Provider IoT Bridge API (tenant onboarding, Sub-CA signing). */
    readonly bridge: string;
    /** RabbitMQ over TLS, vhost `cdm-metrics`. */
    readonly amqp: string;
    /** Platform Grafana. */
    readonly grafana: string;
    /** Provider step-ca (intermediate CA). */
    readonly ca: string;
}

/** Public endpoints of one tenant stack, under `<tenantId>.<cdm:domain>`. */
export interface TenantEndpoints {
    readonly things: string;
    readonly mqtt: string;
    readonly ota: string;
    readonly identity: string;
    readonly grafana: string;
    readonly metrics: string;
    readonly terminal: string;
    readonly bridge: string;
    readonly vpn: string;
    readonly ca: string;
}

export function providerEndpoints(domain: string): ProviderEndpoints {
    return {
        identity: `https://auth.${domain}`,
        bridge: `https://api.${domain}`,
        amqp: `amqps://amqp.${domain}:5671`,
        grafana: `https://grafana.${domain}`,
        ca: `https://ca.${domain}`,
    };
}

export function tenantEndpoints(domain: string, tenantId: string, wireguardPort: number): TenantEndpoints {
    const base = `${tenantId}.${domain}`;
    return {
        things: `https://things.${base}`,
        mqtt: `mqtts://mqtt.${base}:8883`,
        ota: `https://ota.${base}`,
        identity: `https://auth.${base}`,
        grafana: `https://grafana.${base}`,
        metrics: `https://metrics.${base}`,
        terminal: `wss://terminal.${base}/terminal`,
        bridge: `https://api.${base}`,
        vpn: `vpn.${base}:${wireguardPort}`,
        ca: `https://ca.${base}`,
    };
}
