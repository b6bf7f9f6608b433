/**
 * Login to ThingsBoard with the tenant's Keycloak. tb-node cannot take OAuth2 clients from its
 * environment or YAML: since ThingsBoard 3.8 they are entities made by the system administrator
 * through the REST API (`POST /api/oauth2/client`), bound to the host they serve by a domain
 * (`POST /api/domain?oauth2ClientIds=…`). The bootstrap Job sends these bodies; pure.
 */
import { oidcEndpoints } from "../keycloak/model";
import { mapperUsername } from "./users";

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
    /** The bridge's login mapper, and ThingsBoard's token there (the Basic auth password). */
    readonly mapper: { readonly url: string; readonly token: string };
}

/**
 * The OAuth2 client: authorization code flow against the tenant realm. On every login tb-node
 * asks the bridge's mapper (runtime/bridge/thingsboard-login.ts) who the user is, sending the
 * login's access token, and on the first login creates that user: a tenant administrator for
 * `tenant-admin`, a user of the operators' customer for `operator`; anyone else is refused.
 * The basic mapper cannot read roles: with it, every realm user would administer the tenant.
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
            type: "CUSTOM",
            custom: {
                url: login.mapper.url,
                username: mapperUsername,
                password: login.mapper.token,
                sendToken: true,
            },
        },
        additionalInfo: { providerName: "Custom" },
    };
}

/** The domain that shows the Keycloak login button: the host of the tenant's things origin. */
export function oauth2Domain(thingsOrigin: string) {
    return { name: new URL(thingsOrigin).host, oauth2Enabled: true, propagateToEdge: false };
}
