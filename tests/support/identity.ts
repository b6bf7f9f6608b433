/**
 * The platform's identity on a real Keycloak: the platform realm and tenant realms federated to
 * it, applied from the model the program renders. One Keycloak hosts every realm; federation
 * still runs the real OIDC broker flow over HTTP between them. Each tenant's federation client
 * is made as the provider bridge makes it, with the bridge's own admin client and request.
 */
import {
    brokerRedirectUri,
    issuerUrl,
    keycloakBasePath,
    platformRealm,
    tenantRealm,
    TenantOrigins,
} from "../../components/keycloak/model";
import { federationClientRequest } from "../../runtime/bridge/federation";
import { KeycloakAdmin as BridgeKeycloakAdmin } from "../../runtime/shared/keycloak-admin";
import { RunningKeycloak, startKeycloak } from "./keycloak";

export interface Identity {
    readonly kc: RunningKeycloak;
    /** Each realm's confidential clients' secrets, by client id. */
    readonly secrets: Readonly<Record<string, Record<string, string>>>;
    /** The tenant's service origins; identity is this Keycloak, so the broker endpoint is real. */
    origins(tenant: string): TenantOrigins;
}

/** Starts Keycloak on a random loopback port and applies the platform realm and `tenants`' realms. */
export async function startIdentity(tenants: readonly string[]): Promise<Identity> {
    const port = 18400 + Math.floor(Math.random() * 300);
    const kc = await startKeycloak(port, port + 1000);
    const origins = (tenant: string): TenantOrigins => {
        const at = (s: string) => `https://${s}.${tenant}.cdm.example.com`;
        return {
            identity: kc.origin,
            things: at("things"),
            grafana: at("grafana"),
            ota: at("ota"),
            terminal: at("terminal"),
        };
    };
    const secrets: Record<string, Record<string, string>> = {
        platform: await kc.admin.applyRealm(platformRealm("cdm.example.com")),
    };
    const bridgeAdmin = new BridgeKeycloakAdmin({
        url: `${kc.origin}${keycloakBasePath}`,
        realm: "platform",
        clientId: "bridge",
        clientSecret: secrets.platform.bridge,
    });
    for (const tenant of tenants) {
        const request = federationClientRequest(tenant, brokerRedirectUri(kc.origin, tenant, "provider"));
        const federationSecret = (await bridgeAdmin.ensureClient(request)).secret;
        const realm = tenantRealm(
            tenant,
            tenant.toUpperCase(),
            origins(tenant),
            issuerUrl(kc.origin, "platform"),
        );
        secrets[tenant] = await kc.admin.applyRealm(realm, federationSecret);
    }
    return { kc, secrets, origins };
}
