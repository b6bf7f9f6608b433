/** The terminal proxy's pure parts: configuration, token sources, device rules, the handshake, credentials. */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { terminalCredential } from "../../../runtime/bridge/terminal-credential";
import { Caller } from "../../../runtime/shared/auth/access-token";
import { EnvError } from "../../../runtime/shared/env";
import {
    authenticate,
    checkDevice,
    checkOrigin,
    Refusal,
    tokenOf,
} from "../../../runtime/terminal-proxy/access";
import { readTerminalProxyConfig } from "../../../runtime/terminal-proxy/config";
import { withAuthToken } from "../../../runtime/terminal-proxy/relay";
import { SessionRegistry } from "../../../runtime/terminal-proxy/sessions";

const env = {
    TERMINAL_TENANT_ID: "acme",
    OIDC_ISSUER: "https://auth.acme.example.com/auth/realms/acme",
    BRIDGE_URL: "https://bridge.cdm-tenant-acme.svc.cluster.local:8443",
    TERMINAL_PROXY_TOKEN: "t".repeat(40),
};

describe("configuration", () => {
    it("has defaults for everything but the tenant, the realm and the bridge", () => {
        expect(readTerminalProxyConfig(env)).toEqual({
            port: 8080,
            managementPort: 9466,
            tenantId: "acme",
            oidc: {
                issuer: env.OIDC_ISSUER,
                jwksUrl: undefined,
                audience: "terminal-proxy",
                role: "device-terminal",
                adminRole: "tenant-admin",
                clockToleranceSeconds: 30,
            },
            bridge: {
                url: env.BRIDGE_URL,
                token: "t".repeat(40),
                caPem: "",
                serverName: undefined,
                cacheSeconds: 10,
            },
            allowedOrigins: [],
            limits: {
                idleSeconds: 900,
                maxSessionSeconds: 28800,
                perUser: 5,
                perDevice: 3,
                maxFrameBytes: 1048576,
                pingSeconds: 30,
            },
            recordingDir: undefined,
            drainSeconds: 30,
        });
    });

    it("names every bad variable at once", () => {
        let error: unknown;
        try {
            readTerminalProxyConfig({
                ...env,
                TERMINAL_TENANT_ID: "ACME",
                BRIDGE_URL: "http://bridge",
                TERMINAL_IDLE_SECONDS: "5",
                TERMINAL_ALLOWED_ORIGINS: "https://things.acme.example.com,things.acme.example.com",
                TERMINAL_PROXY_TOKEN: "",
            });
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(EnvError);
        expect((error as EnvError).problems).toEqual([
            'TERMINAL_ALLOWED_ORIGINS has "things.acme.example.com", which is not an origin such as https://things.acme.example.com',
            "BRIDGE_URL must be a https URL, not http:",
            "TERMINAL_PROXY_TOKEN is required: the proxy's credential at the bridge",
            'TERMINAL_IDLE_SECONDS must be an integer in 10..86400, not "5"',
            "TERMINAL_TENANT_ID must be a tenant id (a DNS label of 40 characters at most)",
        ]);
    });
});

describe("where the token comes from", () => {
    const url = (q: string) => new URL(`http://proxy/terminal?${q}`);
    const origins = ["https://things.acme.test"];
    it("takes it from the query, a bearer subprotocol entry or the cookie", () => {
        expect(tokenOf({ headers: {} }, url("token=abc"), [])).toEqual({ token: "abc", source: "query" });
        expect(tokenOf({ headers: { "sec-websocket-protocol": "tty, bearer.xyz" } }, url(""), [])).toEqual({
            token: "xyz",
            source: "protocol",
        });
        expect(
            tokenOf({ headers: { cookie: "a=1; cdm_terminal_token=c%2Fd; b=2" } }, url(""), origins),
        ).toEqual({
            token: "c/d",
            source: "cookie",
        });
        // The same token twice is one token.
        expect(
            tokenOf({ headers: { cookie: "cdm_terminal_token=abc" } }, url("token=abc"), origins).source,
        ).toBe("query");
        expect(() => tokenOf({ headers: { "sec-websocket-protocol": "tty" } }, url(""), [])).toThrow(Refusal);
    });

    it("accepts the cookie only with an origin allow-list (a foreign page's WebSocket carries it too)", () => {
        expect(() => tokenOf({ headers: { cookie: "cdm_terminal_token=abc" } }, url(""), [])).toThrow(
            new Refusal(
                401,
                "cookie_not_accepted",
                "the token cookie is accepted only with an origin allow-list (TERMINAL_ALLOWED_ORIGINS); pass ?token= or a bearer.<token> subprotocol",
            ),
        );
        expect(() =>
            tokenOf({ headers: { cookie: "cdm_terminal_token=abc" } }, url("token=abc"), []),
        ).toThrow("the token cookie is accepted only with an origin allow-list");
    });

    it("never starts a session on a token past its exp, whatever the verifier's leeway", async () => {
        const now = Date.parse("2026-12-07T10:00:00Z");
        const caller = (expiresAt: number) => async () => ({
            subject: "user-alice",
            username: "alice",
            tenant: "acme",
            roles: ["device-terminal"],
            expiresAt: new Date(expiresAt),
            claims: {},
        });
        await expect(authenticate(caller(now + 1000), "t", "device-terminal", now)).resolves.toMatchObject({
            username: "alice",
        });
        for (const expiresAt of [now, now - 1000]) {
            await expect(authenticate(caller(expiresAt), "t", "device-terminal", now)).rejects.toEqual(
                new Refusal(401, "token_invalid", "token expired"),
            );
        }
        await expect(authenticate(caller(now + 1000), "t", "operator", now)).rejects.toMatchObject({
            status: 403,
            code: "forbidden",
        });
    });

    it("checks origins only when a list is configured and the client is a browser", () => {
        expect(() => checkOrigin("https://evil.example", [])).not.toThrow();
        expect(() => checkOrigin(undefined, ["https://things.acme.test"])).not.toThrow();
        expect(() => checkOrigin("https://evil.example", ["https://things.acme.test"])).toThrow(
            "origin https://evil.example may not open terminals",
        );
    });
});

describe("devices a token allows", () => {
    const caller = (claims: Record<string, unknown>): Caller => ({
        subject: "s",
        roles: ["device-terminal"],
        expiresAt: new Date(),
        claims,
    });
    it("allows any device without terminal_devices, else listed ids and prefixes", () => {
        expect(() => checkDevice(caller({}), "dev-1")).not.toThrow();
        const limited = caller({ terminal_devices: ["dev-7", "line-a-*"] });
        expect(() => checkDevice(limited, "dev-7")).not.toThrow();
        expect(() => checkDevice(limited, "line-a-12")).not.toThrow();
        expect(() => checkDevice(limited, "line-b-1")).toThrow("the token does not allow device line-b-1");
        expect(() => checkDevice(limited, "dev-77")).toThrow(Refusal);
        expect(() => checkDevice(caller({ terminal_devices: "dev-7" }), "dev-7")).toThrow(Refusal);
    });
});

describe("ttyd's handshake and the device's credential", () => {
    const credential = { username: "cdm-terminal", password: "pw" };
    it("replaces AuthToken and keeps the rest, refusing anything but a JSON object", () => {
        const out = withAuthToken(Buffer.from('{"AuthToken":"stolen","columns":80,"rows":24}'), credential);
        expect(JSON.parse(out!.toString())).toEqual({
            AuthToken: Buffer.from("cdm-terminal:pw").toString("base64"),
            columns: 80,
            rows: 24,
        });
        expect(withAuthToken(Buffer.from("0ls"), credential)).toBeUndefined();
        expect(withAuthToken(Buffer.from("{not json"), credential)).toBeUndefined();
        expect(withAuthToken(Buffer.from("[1]"), credential)).toBeUndefined();
    });

    it("derives each device's credential from the tenant key, tenant, device and WireGuard key", () => {
        const key = "k".repeat(40);
        const wg = `${"A".repeat(43)}=`;
        const expected = createHmac("sha256", key).update(`ttyd\0acme\0dev-1\0${wg}`).digest("base64url");
        expect(terminalCredential(key, "acme", "dev-1", wg)).toEqual({
            username: "cdm-terminal",
            password: expected,
        });
        expect(expected).toHaveLength(43);
        expect(terminalCredential(key, "acme", "dev-2", wg).password).not.toBe(expected);
        expect(terminalCredential(key, "globex", "dev-1", wg).password).not.toBe(expected);
        // The same id enrolled again with a new WireGuard key (a replaced unit) gets a new one.
        expect(terminalCredential(key, "acme", "dev-1", `${"B".repeat(43)}=`).password).not.toBe(expected);
    });
});

describe("session slots", () => {
    it("admits up to the limits and frees a slot on release", () => {
        const registry = new SessionRegistry({ perUser: 2, perDevice: 2 });
        const a = registry.admit("alice", "dev-1");
        registry.admit("alice", "dev-2");
        expect(() => registry.admit("alice", "dev-3")).toThrow("alice has 2 sessions open already");
        registry.admit("bob", "dev-1");
        expect(() => registry.admit("carol", "dev-1")).toThrow("device dev-1 has 2 sessions open already");
        registry.release(a);
        expect(() => registry.admit("carol", "dev-1")).not.toThrow();
        expect(registry.size).toBe(3);
    });
});
