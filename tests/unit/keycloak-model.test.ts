import { describe, expect, it } from "vitest";
import {
    brokerRedirectUri,
    clientMappers,
    federationClaimFilter,
    federationClient,
    federationGate,
    federationMappers,
    issuerUrl,
    oidcEndpoints,
    platformRealm,
    tenantOrigins,
    tenantRealm,
} from "../../components/keycloak/model";
import { federationClientRequest } from "../../runtime/bridge/federation";

const acme = tenantRealm(
    "acme",
    "ACME",
    tenantOrigins("cdm.example.com", "acme"),
    issuerUrl("https://auth.cdm.example.com", "platform"),
);

describe("identity model", () => {
    it("derives issuers, endpoints and the broker redirect URI", () => {
        expect(issuerUrl("https://auth.cdm.example.com", "platform")).toBe(
            "https://auth.cdm.example.com/auth/realms/platform",
        );
        expect(oidcEndpoints("https://kc/auth/realms/acme")).toEqual({
            authorizationUrl: "https://kc/auth/realms/acme/protocol/openid-connect/auth",
            tokenUrl: "https://kc/auth/realms/acme/protocol/openid-connect/token",
            userInfoUrl: "https://kc/auth/realms/acme/protocol/openid-connect/userinfo",
            jwksUrl: "https://kc/auth/realms/acme/protocol/openid-connect/certs",
            logoutUrl: "https://kc/auth/realms/acme/protocol/openid-connect/logout",
        });
        expect(brokerRedirectUri("https://auth.acme.cdm.example.com", "acme", "provider")).toBe(
            "https://auth.acme.cdm.example.com/auth/realms/acme/broker/provider/endpoint",
        );
    });

    it("gives every tenant client the tenant claim and only browser-facing ones the roles claim", () => {
        expect(acme.clients.map((c) => [c.clientId, clientMappers(acme, c).map((m) => m.name)])).toEqual([
            ["thingsboard", ["tenant", "roles"]],
            ["grafana", ["tenant", "roles"]],
            ["hawkbit", ["tenant", "roles"]],
            ["terminal-proxy", ["tenant", "roles", "audience"]],
            ["bridge", ["tenant"]],
        ]);
        expect(clientMappers(acme, acme.clients[0])[0]).toEqual({
            name: "tenant",
            protocolMapper: "oidc-hardcoded-claim-mapper",
            config: {
                "claim.name": "tenant",
                "claim.value": "acme",
                "jsonType.label": "String",
                "access.token.claim": "true",
                "id.token.claim": "true",
                "userinfo.token.claim": "true",
            },
        });
        const platform = platformRealm("cdm.example.com");
        expect(
            platform.clients.map((c) => [c.clientId, clientMappers(platform, c).map((m) => m.name)]),
        ).toEqual([
            ["bridge", []],
            ["grafana", ["roles"]],
        ]);
        // Only the provider bridge gets admin rights, and only over clients (federation clients).
        expect(
            [...platform.clients, ...acme.clients]
                .filter((c) => c.realmManagementRoles.length > 0)
                .map((c) => [c.clientId, c.realmManagementRoles]),
        ).toEqual([["bridge", ["view-clients", "manage-clients"]]]);
    });

    it("maps platform roles to tenant roles, never to device-terminal", () => {
        expect(
            federationMappers(acme.federation!).map((m) => [m.config["external.role"], m.config.role]),
        ).toEqual([
            ["platform-admin", "tenant-admin"],
            ["platform-operator", "operator"],
            ["platform-viewer", "viewer"],
            ["platform-admin", "platform-staff"],
            ["platform-operator", "platform-staff"],
            ["platform-viewer", "platform-staff"],
        ]);
        // The gate: without the staff role (any mapped platform role), a federated login is denied.
        expect(federationGate(acme.federation!)).toEqual({
            flow: "federation-gate",
            subflow: "federation-gate-staff-only",
            condition: {
                authenticator: "conditional-user-role",
                config: { condUserRole: "platform-staff", negate: "true" },
            },
            deny: { authenticator: "deny-access-authenticator" },
            allow: { authenticator: "allow-access-authenticator" },
        });
    });

    it("describes a tenant's federation client in the platform realm", () => {
        expect(federationClient("acme", "https://x/endpoint")).toEqual({
            clientId: "tenant-acme",
            name: "Federation of tenant acme",
            access: "confidential",
            standardFlow: true,
            serviceAccount: false,
            redirectUris: ["https://x/endpoint"],
            webOrigins: [],
            rolesClaim: true,
            realmManagementRoles: [],
        });
    });

    it("asks the bridge's admin client for the federation client with its roles mapper only", () => {
        const request = federationClientRequest("acme", "https://x/endpoint");
        expect(request).toEqual({
            clientId: "tenant-acme",
            name: "Federation of tenant acme",
            redirectUris: ["https://x/endpoint"],
            protocolMappers: [
                {
                    name: "roles",
                    protocolMapper: "oidc-usermodel-realm-role-mapper",
                    config: {
                        "claim.name": "roles",
                        "jsonType.label": "String",
                        multivalued: "true",
                        "access.token.claim": "true",
                        "id.token.claim": "true",
                        "userinfo.token.claim": "true",
                    },
                },
            ],
        });
    });

    it("filters federated logins on the mapped platform roles, each matched literally", () => {
        const federation = tenantRealm(
            "acme",
            "ACME",
            tenantOrigins("cdm.example.com", "acme"),
            "https://i",
        ).federation!;
        expect(federationClaimFilter(federation)).toEqual({
            filteredByClaim: "true",
            claimFilterName: "roles",
            claimFilterValue: "^(platform-admin|platform-operator|platform-viewer)$",
        });
        expect(
            federationClaimFilter({
                ...federation,
                roleMappings: [{ platformRole: "ops.lead+1", role: "operator" }],
            }).claimFilterValue,
        ).toBe("^(ops\\.lead\\+1)$");
    });
});
