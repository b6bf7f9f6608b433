/**
 * Login to ThingsBoard with the tenant's Keycloak. tb-node cannot take OAuth2 clients from its
 * environment or YAML: since ThingsBoard 3.8 they are entities made by the system administrator
 * through the REST API (`POST /api/oauth2/client`), bound to the host they serve by a domain
 * (`POST /api/domain?oauth2ClientIds=…`). The bootstrap Job sends these bodies; pure.
 */
import { oidcEndpoints } from "../keycloak/model";

/** Title of the OAuth2 client; the bootstrap finds an existing client by it. */
export const oauth2ClientTitle = "Keycloak";

/** Where the tenant's Keycloak is, for the browser and for tb-node. */
export interface KeycloakLogin {
    /** The tenant realm's public issuer (the browser is sent to its authorization endpoint). */
    readonly issuer: string;
    /** The same realm on Keycloak's in-cluster URL, for tb-node's token, userinfo and key calls. */
    readonly internalIssuer: string;
    /** The realm's `thingsboard` client and its secret. */
    readonly clientId: string;
    readonly clientSecret: string;
    /** Title of the ThingsBoard tenant users land in. */
    readonly tenantTitle: string;
}

/**
 * The OAuth2 client: authorization code flow against the tenant realm; users are created on
 * their first login as administrators of the tenant (`tenantNamePattern`), named from the
 * standard OIDC claims. The basic mapper cannot read Keycloak roles, so every user of the tenant
 * realm who may use the `thingsboard` client administers the tenant's ThingsBoard (see
 * docs/telemetry.md).
 */
export function oauth2Client(login: KeycloakLogin) {
    const browser = oidcEndpoints(login.issuer);
    const server = oidcEndpoints(login.internalIssuer);
    return {
        title: oauth2ClientTitle,
        clientId: login.clientId,
        clientSecret: login.clientSecret,
        authorizationUri: browser.authorizationUrl,
        accessTokenUri: server.tokenUrl,
        userInfoUri: server.userInfoUrl,
        jwkSetUri: server.jwksUrl,
        scope: ["openid", "email", "profile"],
        userNameAttributeName: "email",
        clientAuthenticationMethod: "POST",
        loginButtonLabel: "Keycloak",
        loginButtonIcon: "",
        platforms: ["WEB"],
        mapperConfig: {
            allowUserCreation: true,
            activateUser: true,
            type: "BASIC",
            basic: {
                emailAttributeKey: "email",
                firstNameAttributeKey: "given_name",
                lastNameAttributeKey: "family_name",
                tenantNameStrategy: "CUSTOM",
                tenantNamePattern: login.tenantTitle,
                alwaysFullScreen: false,
            },
        },
        additionalInfo: { providerName: "Custom" },
    };
}

/** The domain that shows the Keycloak login button: the host of the tenant's things origin. */
export function oauth2Domain(thingsOrigin: string) {
    return { name: new URL(thingsOrigin).host, oauth2Enabled: true, propagateToEdge: false };
}
