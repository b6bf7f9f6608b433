import { createRemoteJWKSet, errors, JWTPayload, jwtVerify, JWTVerifyGetKey } from "jose";

/** Why an access token was refused; callers answer 401 (or 403 for `forbidden`). */
export class AccessDenied extends Error {
    constructor(
        readonly status: 401 | 403,
        message: string,
    ) {
        super(message);
        this.name = "AccessDenied";
    }
}

/** What a service accepts. */
export interface AccessPolicy {
    /** The realm's issuer, for example `https://auth.acme.cdm.example.com/auth/realms/acme`. */
    readonly issuer: string;
    /** Where the realm's keys are fetched; the issuer's certs endpoint when undefined (in-cluster URL). */
    readonly jwksUrl?: string;
    /** Audience the token must carry (for example `terminal-proxy`); any when undefined. */
    readonly audience?: string;
    /** The `tenant` claim the token must carry: this service's tenant. */
    readonly tenant?: string;
    /** Seconds of clock skew tolerated on `exp` and `nbf`. */
    readonly clockToleranceSeconds?: number;
    /** Least seconds between two fetches of the key set (a flood of unknown `kid`s costs one). */
    readonly jwksCooldownSeconds?: number;
}

/** A verified caller. */
export interface Caller {
    readonly subject: string;
    readonly username?: string;
    readonly tenant?: string;
    readonly roles: readonly string[];
    readonly expiresAt: Date;
    readonly claims: JWTPayload;
}

/** Only asymmetric algorithms Keycloak signs with; never `none` or HMAC. */
const algorithms = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"];

/**
 * Verifies Keycloak access tokens: signature by a key of the realm's JWKS (cached; fetched again
 * for an unknown `kid`, at most every 30 s), an allow-listed algorithm, issuer, audience,
 * `exp`/`nbf` with a small leeway, and the tenant. Roles come from the flat `roles` claim the
 * platform's clients add. Error messages name the failed check, never the token. `keys` is
 * the realm's remote key set; tests of other services may pass a local one.
 */
export function accessTokenVerifier(
    policy: AccessPolicy,
    keys: JWTVerifyGetKey = realmKeySet(policy),
): (token: string) => Promise<Caller> {
    return async (token) => {
        let payload: JWTPayload;
        try {
            ({ payload } = await jwtVerify(token, keys, {
                issuer: policy.issuer,
                ...(policy.audience ? { audience: policy.audience } : {}),
                algorithms,
                clockTolerance: policy.clockToleranceSeconds ?? 30,
                requiredClaims: ["exp", "sub"],
            }));
        } catch (error) {
            throw new AccessDenied(401, reason(error));
        }
        // Keycloak marks its tokens: an ID or refresh token of the same client carries the same
        // audience and claims, but only an access token ("Bearer") is a credential for a service.
        if (payload.typ !== undefined && payload.typ !== "Bearer") {
            throw new AccessDenied(401, `token is of type ${String(payload.typ)}, not an access token`);
        }
        if (policy.tenant !== undefined && payload.tenant !== policy.tenant) {
            throw new AccessDenied(
                403,
                `token is for tenant ${String(payload.tenant ?? "none")}, not ${policy.tenant}`,
            );
        }
        const roles = Array.isArray(payload.roles)
            ? payload.roles.filter((r): r is string => typeof r === "string")
            : [];
        return {
            subject: payload.sub!,
            username: typeof payload.preferred_username === "string" ? payload.preferred_username : undefined,
            tenant: typeof payload.tenant === "string" ? payload.tenant : undefined,
            roles,
            expiresAt: new Date(payload.exp! * 1000),
            claims: payload,
        };
    };
}

/**
 * The realm's remote key set: cached, fetched again for an unknown `kid` at most every
 * `jwksCooldownSeconds`. Verifiers of one realm with different audiences may share one.
 */
export function realmKeySet(policy: Omit<AccessPolicy, "audience" | "tenant">): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(policy.jwksUrl ?? `${policy.issuer}/protocol/openid-connect/certs`), {
        cooldownDuration: (policy.jwksCooldownSeconds ?? 30) * 1000,
        cacheMaxAge: 10 * 60_000,
        timeoutDuration: 5_000,
    });
}

/** Requires one of `roles`; 403 otherwise. */
export function requireRole(caller: Caller, roles: readonly string[]): void {
    if (!roles.some((r) => caller.roles.includes(r))) {
        throw new AccessDenied(403, `needs one of the roles ${roles.join(", ")}`);
    }
}

function reason(error: unknown): string {
    if (error instanceof errors.JWTExpired) return "token expired";
    if (error instanceof errors.JWTClaimValidationFailed)
        return `token ${error.claim} claim is not acceptable`;
    if (error instanceof errors.JWSSignatureVerificationFailed) return "token signature is invalid";
    if (error instanceof errors.JOSEAlgNotAllowed) return "token algorithm is not allowed";
    if (error instanceof errors.JWKSNoMatchingKey) return "token was not signed by a key of the realm";
    if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return "token is malformed";
    return "token could not be verified";
}
