import { createHash, createPublicKey } from "node:crypto";

/** A public EC key as a JWK, with the fields step-ca's JWK provisioner expects. */
export interface EcPublicJwk {
    readonly use: "sig";
    readonly kty: "EC";
    readonly kid: string;
    readonly crv: "P-256" | "P-384";
    readonly alg: "ES256" | "ES384";
    readonly x: string;
    readonly y: string;
}

/** RFC 7638 thumbprint (base64url SHA-256 of the canonical members), the `kid` step uses. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    return createHash("sha256").update(canonical).digest("base64url");
}

/** Converts a PEM public key (P-256 or P-384) into the JWK of a step-ca JWK provisioner. */
export function publicJwkFromPem(publicKeyPem: string): EcPublicJwk {
    const jwk = createPublicKey(publicKeyPem).export({ format: "jwk" }) as {
        kty: string;
        crv?: string;
        x?: string;
        y?: string;
    };
    if (jwk.kty !== "EC" || (jwk.crv !== "P-256" && jwk.crv !== "P-384") || !jwk.x || !jwk.y) {
        throw new Error(
            `a JWK provisioner key must be EC P-256 or P-384, got ${jwk.kty} ${jwk.crv ?? ""}`.trim(),
        );
    }
    const crv: EcPublicJwk["crv"] = jwk.crv;
    const base = { kty: "EC" as const, crv, x: jwk.x, y: jwk.y };
    return {
        use: "sig",
        ...base,
        kid: jwkThumbprint(base),
        alg: crv === "P-256" ? "ES256" : "ES384",
    };
}
