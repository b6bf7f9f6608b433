/** Keycloak login for ThingsBoard: the OAuth2 client and domain bodies the bootstrap sends. */
import { describe, expect, it } from "vitest";
import { tenantOrigins, tenantRealm } from "../../components/keycloak/model";
import { oauth2Client, oauth2Domain } from "../../components/thingsboard/oauth2";

const realm = "https://auth.acme.cdm.example.com/auth/realms/acme";
const internal = "http://keycloak.cdm-tenant-acme.svc.cluster.local:8080/auth/realms/acme";

describe("ThingsBoard OAuth2", () => {
    it("sends browsers to the public realm and calls Keycloak in-cluster for tokens, users and keys", () => {
        expect(
            oauth2Client({
                issuer: realm,
                internalIssuer: internal,
                clientId: "thingsboard",
                clientSecret: "s3cret",
                mapper: {
                    url: "http://127.0.0.1:18443/webhooks/thingsboard/login",
                    token: "bridge-token-of-thingsboard",
                },
            }),
        ).toEqual({
            title: "Keycloak",
            clientId: "thingsboard",
            clientSecret: "s3cret",
            authorizationUri: `${realm}/protocol/openid-connect/auth`,
            accessTokenUri: `${internal}/protocol/openid-connect/token`,
            userInfoUri: `${internal}/protocol/openid-connect/userinfo`,
            jwkSetUri: `${internal}/protocol/openid-connect/certs`,
            scope: ["openid", "email", "profile"],
            userNameAttributeName: "email",
            clientAuthenticationMethod: "POST",
            loginButtonLabel: "Keycloak",
            loginButtonIcon: "",
            platforms: ["WEB"],
            // The bridge maps each login from its access token (sendToken), with ThingsBoard's
            // credential there as Basic auth.
            mapperConfig: {
                allowUserCreation: true,
                activateUser: true,
                type: "CUSTOM",
                custom: {
                    url: "http://127.0.0.1:18443/webhooks/thingsboard/login",
                    username: "thingsboard",
                    password: "bridge-token-of-thingsboard",
                    sendToken: true,
                },
            },
            additionalInfo: { providerName: "Custom" },
        });
    });

    it("shows the login on the things host, whose callback the realm's client allows", () => {
        const origins = tenantOrigins("cdm.example.com", "acme");
        expect(oauth2Domain(origins.things)).toEqual({
            name: "things.acme.cdm.example.com",
            oauth2Enabled: true,
            propagateToEdge: false,
        });
        const client = tenantRealm("acme", "ACME", origins, realm).clients.find(
            (c) => c.clientId === "thingsboard",
        );
        // ThingsBoard's login processing URL on its public origin.
        expect(client?.redirectUris).toEqual(["https://things.acme.cdm.example.com/login/oauth2/code/"]);
        expect(client?.access).toBe("confidential");
    });
});
