/**
 * The access-token verifier's key set: fetched from the realm once and cached, fetched again for
 * a token signed by a key it does not know (a realm key rotation), and never more often than the
 * cooldown however many unknown `kid`s arrive. The realm here is a local HTTP server that counts
 * its JWKS requests.
 */
import { generateKeyPairSync, KeyObject } from "node:crypto";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessTokenVerifier } from "../../runtime/shared/auth/access-token";

const issuer = "https://auth.acme.test/auth/realms/acme";

function realmKey(kid: string): { jwk: JWK; privateKey: KeyObject } {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    return {
        jwk: { ...(publicKey.export({ format: "jwk" }) as JWK), kid, alg: "ES256", use: "sig" },
        privateKey,
    };
}

const sign = (key: { privateKey: KeyObject }, kid: string) =>
    new SignJWT({ iss: issuer, aud: "terminal-proxy", sub: "user-alice", tenant: "acme", roles: [] })
        .setProtectedHeader({ alg: "ES256", kid })
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(key.privateKey);

const first = realmKey("key-1");
const second = realmKey("key-2");
let published: JWK[] = [first.jwk];
let fetches = 0;
let server: Server;
let jwksUrl = "";

beforeAll(async () => {
    server = createServer((request, response) => {
        if (request.url !== "/certs") return void response.writeHead(404).end();
        fetches++;
        response
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

describe("the realm's key set", () => {
    it("is cached, fetched again for a rotated key, and not more often than the cooldown", async () => {
        const verify = accessTokenVerifier({
            issuer,
            jwksUrl,
            audience: "terminal-proxy",
            jwksCooldownSeconds: 1,
        });
        expect((await verify(await sign(first, "key-1"))).subject).toBe("user-alice");
        await verify(await sign(first, "key-1"));
        expect(fetches).toBe(1);

        // A flood of tokens naming unknown keys right after a fetch: refused, no new fetch.
        const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(second, `unknown-${i}`)));
        const answers = await Promise.allSettled(forged.map((t) => verify(t)));
        expect(answers.map((a) => a.status === "rejected" && String(a.reason.message))).toEqual(
            Array(20).fill("token was not signed by a key of the realm"),
        );
        expect(fetches).toBe(1);

        // The realm rotates; after the cooldown a token of the new key makes one fetch and passes.
        published = [first.jwk, second.jwk];
        await new Promise((resolve) => setTimeout(resolve, 1100));
        expect((await verify(await sign(second, "key-2"))).subject).toBe("user-alice");
        expect(fetches).toBe(2);
        await Promise.allSettled(forged.map((t) => verify(t)));
        expect(fetches).toBe(2);
        expect((await verify(await sign(first, "key-1"))).subject).toBe("user-alice");
        expect(fetches).toBe(2);
    });
});
