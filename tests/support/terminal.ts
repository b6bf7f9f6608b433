/**
 * Test support for the terminal proxy: a realm whose tokens can be made with any claims and
 * header (including the forgeries of the attack suite), and a proxy configuration.
 */
import { generateKeyPairSync, KeyObject } from "node:crypto";
import { createLocalJWKSet, JWK, JWTPayload, SignJWT } from "jose";
import { WebSocket } from "ws";
import { accessTokenVerifier, Caller } from "../../runtime/shared/auth/access-token";
import { TerminalProxyConfig } from "../../runtime/terminal-proxy/config";

export const terminalIssuer = "https://auth.acme.test/auth/realms/acme";

/** A realm that signs ES256 tokens with key `realm-key`, and knows how to forge bad ones. */
export class TokenRealm {
    readonly jwk: JWK;
    private readonly privateKey: KeyObject;

    constructor(readonly issuer = terminalIssuer) {
        const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        this.privateKey = privateKey;
        this.jwk = {
            ...(publicKey.export({ format: "jwk" }) as JWK),
            kid: "realm-key",
            alg: "ES256",
            use: "sig",
        };
    }

    /** The verifier the proxy uses, over this realm's key set. */
    verifier(tenant = "acme"): (token: string) => Promise<Caller> {
        return accessTokenVerifier(
            { issuer: this.issuer, audience: "terminal-proxy", tenant, clockToleranceSeconds: 5 },
            createLocalJWKSet({ keys: [this.jwk] }),
        );
    }

    /** A valid terminal token for `user`, changed by `claims` (null removes a claim). */
    token(claims: Record<string, unknown> = {}, header: { kid?: string } = {}): Promise<string> {
        const now = Math.floor(Date.now() / 1000);
        const payload: JWTPayload = {
            iss: this.issuer,
            aud: "terminal-proxy",
            sub: "user-alice",
            preferred_username: "alice",
            tenant: "acme",
            typ: "Bearer",
            roles: ["device-terminal"],
            iat: now,
            exp: now + 300,
            ...claims,
        };
        for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
        return new SignJWT(payload)
            .setProtectedHeader({ alg: "ES256", kid: header.kid ?? "realm-key" })
            .sign(this.privateKey);
    }

    /** An unsigned token (`alg: none`) with valid claims. */
    async unsigned(): Promise<string> {
        const [, payload] = (await this.token()).split(".");
        return `${b64({ alg: "none", typ: "JWT" })}.${payload}.`;
    }

    /** HS256 signed with the realm's public key as the secret (the key-confusion attack). */
    async hmacWithPublicKey(): Promise<string> {
        const [, payload] = (await this.token()).split(".");
        const header = b64({ alg: "HS256", kid: "realm-key" });
        const { createHmac } = await import("node:crypto");
        const secret = JSON.stringify(this.jwk);
        const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
        return `${header}.${payload}.${signature}`;
    }

    /** A valid token whose payload was changed after signing (another user). */
    async tampered(): Promise<string> {
        const [header, payload, signature] = (await this.token()).split(".");
        const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<
            string,
            unknown
        >;
        return `${header}.${b64({ ...claims, preferred_username: "mallory", roles: ["device-terminal", "tenant-admin"] })}.${signature}`;
    }
}

/** Another realm's key: a token signed by it names a `kid` this realm does not have. */
export function foreignRealm(): TokenRealm {
    return new TokenRealm();
}

function b64(value: unknown): string {
    return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** A proxy configuration for tests: loopback ports, small limits where a test needs them. */
export function testProxyConfig(changes: Partial<TerminalProxyConfig> = {}): TerminalProxyConfig {
    return {
        port: 0,
        managementPort: 0,
        tenantId: "acme",
        oidc: {
            issuer: terminalIssuer,
            audience: "terminal-proxy",
            role: "device-terminal",
            adminRole: "tenant-admin",
            clockToleranceSeconds: 5,
        },
        bridge: { url: "https://127.0.0.1:1", token: "unused", caPem: "", cacheSeconds: 10 },
        allowedOrigins: ["https://things.acme.test"],
        limits: {
            idleSeconds: 900,
            maxSessionSeconds: 3600,
            perUser: 5,
            perDevice: 3,
            maxFrameBytes: 1024 * 1024,
            pingSeconds: 30,
        },
        drainSeconds: 1,
        ...changes,
    };
}

/** A terminal as a client opens it: the socket, or the HTTP refusal's status and body. */
export function openTerminal(
    url: string,
    options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<{ ws?: WebSocket; status?: number; body?: any }> {
    const ws = new WebSocket(url, options.protocols ?? ["tty"], { headers: options.headers });
    return new Promise((resolve) => {
        ws.once("open", () => resolve({ ws }));
        ws.once("unexpected-response", (_req, res) => {
            let text = "";
            res.on("data", (d: Buffer) => (text += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
        });
        ws.once("error", () => undefined);
    });
}

/** The close code and reason `ws` ends with. */
export const closed = (ws: WebSocket) =>
    new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
