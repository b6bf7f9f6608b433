import {
    brokerRedirectUri,
    federationAlias,
    federationClient,
    tenantOrigins,
} from "../../components/keycloak/model";
import { FederationClientResponse } from "../shared/onboarding";
import { KeycloakAdmin } from "../shared/keycloak-admin";
import { Database } from "./db/database";
import { ApiError, callPeer } from "./errors";
import { tenantEvent, TenantRecord } from "./onboarding";

/**
 * The one redirect URI a tenant's federation client may have: its own Keycloak's broker
 * endpoint, derived from the tenant's registration, never taken from the request. A tenant that
 * could choose it could have the platform realm send staff login codes anywhere.
 */
export function expectedRedirectUri(tenantId: string, tenant: TenantRecord): string {
    return brokerRedirectUri(tenantOrigins(tenant.domain, tenantId).identity, tenantId, federationAlias);
}

/**
 * Creates (or returns) the tenant's federation client in the platform realm. The request's
 * redirect URI must be the derived one: a mismatch is refused, naming the one expected.
 */
export async function ensureFederationClient(
    db: Database,
    keycloak: KeycloakAdmin,
    tenantId: string,
    tenant: TenantRecord,
    redirectUri: string,
): Promise<FederationClientResponse> {
    const expected = expectedRedirectUri(tenantId, tenant);
    if (redirectUri !== expected) {
        throw new ApiError(
            400,
            "invalid_redirect_uri",
            `the federation client's redirect URI must be ${expected}`,
        );
    }
    const model = federationClient(tenantId, expected);
    const made = await callPeer("Keycloak", () =>
        keycloak.ensureClient({
            clientId: model.clientId,
            name: model.name,
            redirectUris: model.redirectUris,
        }),
    );
    await db.transaction((tx) =>
        tenantEvent(tx, tenantId, "federation client ensured", `tenant:${tenantId}`, {
            clientId: model.clientId,
        }),
    );
    return { client_id: model.clientId, client_secret: made.secret };
}

/** Removes the tenant's federation client; 404 when there is none. */
export async function removeFederationClient(
    db: Database,
    keycloak: KeycloakAdmin,
    tenantId: string,
): Promise<void> {
    const clientId = federationClient(tenantId, "").clientId;
    if (!(await callPeer("Keycloak", () => keycloak.deleteClient(clientId)))) {
        throw new ApiError(404, "federation_client_not_found", `tenant ${tenantId} has no federation client`);
    }
    await db.transaction((tx) =>
        tenantEvent(tx, tenantId, "federation client removed", `tenant:${tenantId}`, { clientId }),
    );
}
