/**
 * What tb-node's custom OAuth2 mapper client sends the bridge: the principal of a Keycloak login
 * as Jackson serialises Spring Security's `DefaultOidcUser` (the claims under `attributes` and
 * `claims`, the ID token and userinfo nested, the standard claims again as getters), posted as
 * `text/plain; charset=ISO-8859-1` (a `String` body through `RestTemplate`), with Basic auth and
 * the login's access token in `provider-access-token`.
 */
import { decodeJwt } from "jose";

/** The claims of a test user's tokens, beyond subject and roles. */
export const loginClaims = {
    azp: "thingsboard",
    email: "olga@acme.example",
    email_verified: true,
    given_name: "Olga",
    family_name: "Operator",
};

/** The principal of a login whose ID token is `idToken` and whose userinfo answer is `userInfo`. */
export function oidcPrincipal(idToken: string, userInfo: Record<string, unknown>): Record<string, unknown> {
    const idClaims = decodeJwt(idToken);
    const claims = { ...idClaims, ...userInfo };
    const at = (seconds: unknown) => (typeof seconds === "number" ? seconds : undefined);
    return {
        authorities: [
            {
                authority: "OIDC_USER",
                attributes: claims,
                idToken: { tokenValue: idToken, claims: idClaims },
            },
            { authority: "SCOPE_openid" },
            { authority: "SCOPE_email" },
            { authority: "SCOPE_profile" },
        ],
        attributes: claims,
        idToken: {
            tokenValue: idToken,
            issuedAt: at(idClaims.iat),
            expiresAt: at(idClaims.exp),
            claims: idClaims,
        },
        userInfo: { claims: userInfo },
        claims,
        name: claims.email,
        subject: claims.sub,
        email: claims.email,
        givenName: claims.given_name,
        familyName: claims.family_name,
        preferredUsername: claims.preferred_username,
    };
}

/** The request headers and body tb-node sends for a login. */
export function mapperRequest(
    principal: Record<string, unknown>,
    accessToken: string | undefined,
    credential: { username: string; password: string },
): { headers: Record<string, string>; body: string } {
    return {
        headers: {
            "content-type": "text/plain;charset=ISO-8859-1",
            authorization: `Basic ${Buffer.from(`${credential.username}:${credential.password}`, "latin1").toString("base64")}`,
            ...(accessToken ? { "provider-access-token": accessToken } : {}),
        },
        body: JSON.stringify(principal),
    };
}
