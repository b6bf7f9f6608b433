import { randomBytes } from "node:crypto";
import { importPKCS8, SignJWT } from "jose";

/** The key of a step-ca JWK provisioner, as the bridge holds it. */
export interface ProvisionerKey {
    /** Provisioner name: the token's `iss`. */
    readonly name: string;
    /** The provisioner key's id (RFC 7638 thumbprint): the token header's `kid`. */
    readonly kid: string;
    /** PKCS#8 PEM of the private key. */
    readonly privateKeyPem: string;
    /** ES256 for P-256 keys, ES384 for P-384. */
    readonly alg: "ES256" | "ES384";
}

/** Imported signing keys, so a bridge signing many tokens parses its provisioner key once. */
const importedKeys = new Map<string, ReturnType<typeof importPKCS8>>();

function signingKey(key: ProvisionerKey): ReturnType<typeof importPKCS8> {
    const cacheKey = `${key.alg}\n${key.privateKeyPem}`;
    let imported = importedKeys.get(cacheKey);
    if (!imported) {
        imported = importPKCS8(key.privateKeyPem, key.alg);
        importedKeys.set(cacheKey, imported);
        // A key that fails to import is not cached.
        imported.catch(() => importedKeys.delete(cacheKey));
    }
    return imported;
}

/** What a one-time token authorizes. */
export interface TokenRequest {
    /** A DNS name from the CA's ca.json `dnsNames`; the audience is `https://<name>/1.0/<action>`. */
    readonly caDnsName: string;
    /** `sign` for new certificates, `revoke` for revocation. */
    readonly action?: "sign" | "revoke";
    /** Subject (the certificate's CN, or the serial number to revoke). */
    readonly subject: string;
    /** SANs the certificate may carry; step-ca uses `[subject]` when empty. */
    readonly sans?: readonly string[];
    /** Token lifetime; step-ca allows one minute of clock skew either side. */
    readonly lifetimeSeconds?: number;
    /** Start of validity (`nbf`, and the base of `exp`); defaults to now. */
    readonly now?: Date;
    /** `iat`; defaults to `now`. */
    readonly issuedAt?: Date;
}

/**
 * Builds the one-time token (OTT) step-ca's JWK provisioner accepts on `/1.0/sign` and
 * `/1.0/revoke`: header `kid`, `iss` = provisioner name, `aud` = CA URL of the action, `sub`,
 * `sans`, `nbf`/`iat`/`exp`, and a random `jti` that step-ca records so the token works once.
 */
export async function createToken(key: ProvisionerKey, request: TokenRequest): Promise<string> {
    if (request.subject.trim() === "") {
        throw new Error("a one-time token needs a subject");
    }
    const lifetime = request.lifetimeSeconds ?? 300;
    if (lifetime <= 0 || lifetime > 3600) {
        throw new Error(`token lifetime ${lifetime}s is outside 1..3600 seconds`);
    }
    const now = Math.floor((request.now ?? new Date()).getTime() / 1000);
    const privateKey = await signingKey(key);
    const claims: Record<string, unknown> = { jti: randomBytes(16).toString("hex") };
    if (request.action !== "revoke") claims.sans = [...(request.sans ?? [])];
    return new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
        .setIssuer(key.name)
        .setSubject(request.subject)
        .setAudience(`https://${request.caDnsName}/1.0/${request.action ?? "sign"}`)
        .setIssuedAt(request.issuedAt ? Math.floor(request.issuedAt.getTime() / 1000) : now)
        .setNotBefore(now)
        .setExpirationTime(now + lifetime)
        .sign(privateKey);
}
