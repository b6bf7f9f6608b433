/**
 * The terminal proxy in process: every refusal (the attack suite among them) answered before
 * anything reaches the device, the relay's handshake and frames, limits, the admin endpoints and
 * the audit trail. The "device" here is a WebSocket server that records what reaches it; the
 * real ttyd protocol and WireGuard are in tests/integration/terminal.test.ts.
 */
import { AddressInfo, connect } from "node:net";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { Refusal } from "../../../runtime/terminal-proxy/access";
import { TerminalProxyConfig } from "../../../runtime/terminal-proxy/config";
import { DeviceTerminal } from "../../../runtime/terminal-proxy/devices";
import { TerminalMetrics } from "../../../runtime/terminal-proxy/metrics";
import { startTerminalProxy, TerminalProxy } from "../../../runtime/terminal-proxy/server";
import { closed, foreignRealm, openTerminal, testProxyConfig, TokenRealm } from "../../support/terminal";

/** A session from ThingsBoard's origin, as a browser opens it. */
const open = (url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}) =>
    openTerminal(url, { ...options, headers: { origin: "https://things.acme.test", ...options.headers } });

const realm = new TokenRealm();
const events: Record<string, any>[] = [];
const credential = { username: "cdm-terminal", password: "device-secret" };

/** A stand-in device: records upgrades and messages, answers "0"+text to each input. */
let device: WebSocketServer;
const upgrades: { authorization?: string; protocol?: string }[] = [];
const received: { data: Buffer; isBinary: boolean }[] = [];
let devicePort = 0;

beforeAll(async () => {
    device = new WebSocketServer({
        port: 0,
        host: "127.0.0.1",
        handleProtocols: (p) => (p.has("tty") ? "tty" : false),
    });
    await new Promise((r) => device.once("listening", r));
    devicePort = (device.address() as AddressInfo).port;
    device.on("connection", (socket, request) => {
        upgrades.push({ authorization: request.headers.authorization, protocol: socket.protocol });
        socket.on("message", (data, isBinary) => {
            received.push({ data: data as Buffer, isBinary });
            const text = (data as Buffer).toString();
            if (text.startsWith("0")) socket.send(Buffer.from(`0echo:${text.slice(1)}`));
            if (text === "0exit") socket.close(1000);
            if (text === "0drop") socket.terminate();
        });
    });
});

afterAll(() => device.close());

const proxies: TerminalProxy[] = [];
afterEach(async () => {
    for (const p of proxies.splice(0)) await p.drain();
    upgrades.length = 0;
    received.length = 0;
    events.length = 0;
});

const devices: Record<string, DeviceTerminal | Refusal> = {};

async function proxy(changes: Partial<TerminalProxyConfig> = {}): Promise<string> {
    Object.assign(devices, {
        "dev-1": { address: "127.0.0.1", port: devicePort, credential },
        "dev-2": { address: "127.0.0.1", port: devicePort, credential },
        "dev-down": { address: "127.0.0.1", port: 1, credential },
        "dev-gone": new Refusal(404, "device_not_found", "device dev-gone is not enrolled in this tenant"),
    });
    const log = pino(
        { level: "info" },
        new Writable({
            write(chunk, _encoding, done) {
                events.push(JSON.parse(chunk.toString()));
                done();
            },
        }),
    );
    const started = await startTerminalProxy(testProxyConfig(changes), {
        verify: realm.verifier(),
        devices: {
            lookup: async (id) => {
                const found = devices[id];
                if (!found)
                    throw new Refusal(404, "device_not_found", `device ${id} is not enrolled in this tenant`);
                if (found instanceof Refusal) throw found;
                return found;
            },
        },
        log,
        metrics: new TerminalMetrics(false),
    });
    proxies.push(started);
    return `ws://127.0.0.1:${(started.app.server.address() as AddressInfo).port}`;
}

const nextMessage = (ws: WebSocket) =>
    new Promise<{ data: Buffer; isBinary: boolean }>((resolve) =>
        ws.once("message", (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
    );

describe("refusals, before anything reaches the device", () => {
    const now = Math.floor(Date.now() / 1000);
    const attacks: [string, () => Promise<string>, number, string, string][] = [
        ["alg none", () => realm.unsigned(), 401, "token_invalid", "token algorithm is not allowed"],
        [
            "HS256 signed with the public key",
            () => realm.hmacWithPublicKey(),
            401,
            "token_invalid",
            "token algorithm is not allowed",
        ],
        ["expired", () => realm.token({ exp: now - 60 }), 401, "token_invalid", "token expired"],
        [
            "not yet valid",
            () => realm.token({ nbf: now + 600 }),
            401,
            "token_invalid",
            "token nbf claim is not acceptable",
        ],
        [
            "wrong issuer",
            () => realm.token({ iss: "https://auth.acme.test/auth/realms/globex" }),
            401,
            "token_invalid",
            "token iss claim is not acceptable",
        ],
        [
            "wrong audience",
            () => realm.token({ aud: "grafana" }),
            401,
            "token_invalid",
            "token aud claim is not acceptable",
        ],
        [
            "unknown kid",
            () => foreignRealm().token({}, { kid: "other-key" }),
            401,
            "token_invalid",
            "token was not signed by a key of the realm",
        ],
        ["tampered payload", () => realm.tampered(), 401, "token_invalid", "token signature is invalid"],
        [
            "other tenant",
            () => realm.token({ tenant: "globex" }),
            403,
            "forbidden",
            "token is for tenant globex, not acme",
        ],
        [
            "missing role",
            () => realm.token({ roles: ["viewer"] }),
            403,
            "forbidden",
            "needs one of the roles device-terminal",
        ],
        [
            "an ID token of the same client",
            () => realm.token({ typ: "ID" }),
            401,
            "token_invalid",
            "token is of type ID, not an access token",
        ],
    ];

    it.each(attacks)(
        "refuses %s with the reason, and logs it",
        async (_name, make, status, code, message) => {
            const url = await proxy();
            const token = await make();
            const answer = await open(`${url}/terminal?deviceId=dev-1&token=${token}`);
            expect(answer).toEqual({ status, body: { error: code, message } });
            expect(upgrades).toEqual([]);
            expect(events.find((e) => e.event === "terminal.session.refused")).toMatchObject({
                status,
                code,
                reason: message,
                tenant: "acme",
                tokenSource: "query",
            });
            expect(JSON.stringify(events)).not.toContain(token);
        },
    );

    it("refuses a device of another tenant, a device the token does not allow, and bad requests", async () => {
        const url = await proxy();
        const token = await realm.token();
        expect(await open(`${url}/terminal?deviceId=dev-gone&token=${token}`)).toEqual({
            status: 404,
            body: { error: "device_not_found", message: "device dev-gone is not enrolled in this tenant" },
        });
        expect(events.find((e) => e.event === "terminal.session.refused")).toMatchObject({
            user: "alice",
            tenant: "acme",
            deviceId: "dev-gone",
            status: 404,
            code: "device_not_found",
        });
        const limited = await realm.token({ terminal_devices: ["dev-2", "line-a-*"] });
        expect(await open(`${url}/terminal?deviceId=dev-1&token=${limited}`)).toEqual({
            status: 403,
            body: { error: "device_not_allowed", message: "the token does not allow device dev-1" },
        });
        expect(await open(`${url}/terminal?token=${token}`)).toMatchObject({
            status: 400,
            body: { error: "device_missing" },
        });
        expect(await open(`${url}/terminal?deviceId=Dev_1&token=${token}`)).toMatchObject({
            status: 400,
            body: { error: "device_invalid" },
        });
        expect(await open(`${url}/terminal?deviceId=dev-1`)).toMatchObject({
            status: 401,
            body: { error: "token_missing" },
        });
        expect(await open(`${url}/terminal?deviceId=dev-1&token=${token}`, { protocols: ["chat"] })).toEqual({
            status: 400,
            body: { error: "protocol_required", message: "offer the WebSocket subprotocol tty" },
        });
        expect(
            await open(`${url}/terminal?deviceId=dev-1&token=${token}`, {
                headers: { origin: "https://evil.example" },
            }),
        ).toEqual({
            status: 403,
            body: {
                error: "origin_not_allowed",
                message: "origin https://evil.example may not open terminals",
            },
        });
        expect(await open(`${url}/elsewhere?deviceId=dev-1&token=${token}`)).toMatchObject({ status: 404 });
        const other = await realm.token({ preferred_username: "bob" });
        expect(
            await open(`${url}/terminal?deviceId=dev-1&token=${token}`, {
                protocols: ["tty", `bearer.${other}`],
            }),
        ).toEqual({
            status: 400,
            body: { error: "token_ambiguous", message: "different tokens in query and protocol" },
        });
        expect(upgrades).toEqual([]);
    });

    it("answers 502 when the device cannot be reached, without a half-open session", async () => {
        const url = await proxy();
        const answer = await open(`${url}/terminal?deviceId=dev-down&token=${await realm.token()}`);
        expect(answer).toEqual({
            status: 502,
            body: {
                error: "device_unreachable",
                message: "the device's terminal is unreachable or refused the proxy",
            },
        });
        // The slot was released: the user can open their five sessions.
        const sessions = await Promise.all(
            [1, 2, 3].map(
                async () => (await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`)).ws!,
            ),
        );
        expect(sessions.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
        for (const ws of sessions) ws.close();
    });
});

/** Sends a raw upgrade request; answers the status line (or "" when the connection just ends). */
function rawUpgrade(
    url: string,
    target: string,
    headers: Record<string, string>,
    reset = false,
): Promise<string> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve) => {
        const socket = connect(Number(port), hostname, () => {
            const lines = Object.entries({
                host: `${hostname}:${port}`,
                upgrade: "websocket",
                connection: "Upgrade",
                "sec-websocket-version": "13",
                "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
                ...headers,
            }).map(([k, v]) => `${k}: ${v}`);
            socket.write(`GET ${target} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`);
            if (reset) socket.resetAndDestroy();
        });
        let answer = "";
        socket.on("data", (d) => (answer += d.toString()));
        socket.on("error", () => undefined);
        socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
    });
}

describe("a hostile or broken upgrade", () => {
    it("is refused without crashing the proxy, keeping no slot and no device connection", async () => {
        const url = await proxy({ limits: { ...testProxyConfig().limits, perDevice: 1 } });
        const token = await realm.token();
        expect(await rawUpgrade(url, "//[", { "sec-websocket-protocol": "tty" })).toBe(
            "HTTP/1.1 400 Bad Request",
        );
        expect(await rawUpgrade(url, `/\\[/../terminal?deviceId=dev-1&token=${token}`, {})).toBe(
            "HTTP/1.1 400 Bad Request",
        );
        // ws would refuse these after the device was connected: they are refused first.
        const broken: Record<string, string>[] = [
            { "sec-websocket-protocol": "tty, tty" },
            { "sec-websocket-protocol": "tty", "sec-websocket-key": "short" },
            { "sec-websocket-protocol": "tty", "sec-websocket-version": "12" },
        ];
        for (const headers of broken) {
            expect(await rawUpgrade(url, `/terminal?deviceId=dev-1&token=${token}`, headers)).toBe(
                "HTTP/1.1 400 Bad Request",
            );
        }
        // A browser that resets while its token is checked leaves nothing behind.
        await rawUpgrade(
            url,
            `/terminal?deviceId=dev-1&token=${token}`,
            { "sec-websocket-protocol": "tty" },
            true,
        );
        await new Promise((r) => setTimeout(r, 300));
        expect(upgrades).toEqual([]);
        expect(proxies[0].sessions.size).toBe(0);
        // The one slot of dev-1 is still free, and the proxy still answers.
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${token}`);
        expect(ws!.readyState).toBe(WebSocket.OPEN);
        ws!.close();
        expect(JSON.stringify(events)).not.toContain(token);
    });
});

describe("a session", () => {
    it("injects the device's credential, selects tty and relays frames both ways unchanged", async () => {
        const url = await proxy();
        const token = await realm.token();
        // The bearer subprotocol entry (a browser's way) is accepted and never echoed back.
        const { ws } = await open(`${url}/terminal?deviceId=dev-1`, {
            protocols: ["tty", `bearer.${token}`],
        });
        expect(ws!.protocol).toBe("tty");
        const basic = `Basic ${Buffer.from("cdm-terminal:device-secret").toString("base64")}`;
        expect(upgrades).toEqual([{ authorization: basic, protocol: "tty" }]);
        const handshake = JSON.stringify({ AuthToken: "", columns: 120, rows: 40 });
        ws!.send(Buffer.from(handshake));
        ws!.send(Buffer.from("0ls -l\r"));
        const answer = await nextMessage(ws!);
        expect(answer).toEqual({ data: Buffer.from("0echo:ls -l\r"), isBinary: true });
        ws!.send('1{"columns":100,"rows":30}');
        await expect.poll(() => received.length).toBe(3);
        expect(JSON.parse(received[0].data.toString())).toEqual({
            AuthToken: Buffer.from("cdm-terminal:device-secret").toString("base64"),
            columns: 120,
            rows: 40,
        });
        expect(received.slice(1)).toEqual([
            { data: Buffer.from("0ls -l\r"), isBinary: true },
            { data: Buffer.from('1{"columns":100,"rows":30}'), isBinary: false },
        ]);
        const end = closed(ws!);
        ws!.send(Buffer.from("0exit"));
        expect(await end).toEqual({ code: 1000, reason: "terminal ended" });
        await expect
            .poll(() => events.find((e) => e.event === "terminal.session.end"))
            .toMatchObject({
                tenant: "acme",
                user: "alice",
                deviceId: "dev-1",
                clientAddress: "127.0.0.1",
                closedBy: "device",
                code: 1000,
                reason: "terminal ended",
                bytesFromClient: [handshake, "0ls -l\r", '1{"columns":100,"rows":30}', "0exit"].join("")
                    .length,
                bytesFromDevice: "0echo:ls -l\r0echo:exit".length,
            });
        expect(events.find((e) => e.event === "terminal.session.start")).toMatchObject({
            user: "alice",
            deviceId: "dev-1",
        });
    });

    it("closes a session whose first message is not ttyd's handshake", async () => {
        const url = await proxy();
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`);
        const end = closed(ws!);
        ws!.send(Buffer.from("0whoami\r"));
        expect(await end).toEqual({ code: 1008, reason: "first message must be ttyd's JSON handshake" });
        expect(received).toEqual([]);
    });

    it("limits sessions per user and per device", async () => {
        const url = await proxy({ limits: { ...testProxyConfig().limits, perUser: 2, perDevice: 3 } });
        const alice = await realm.token();
        const a = [
            await open(`${url}/terminal?deviceId=dev-1&token=${alice}`),
            await open(`${url}/terminal?deviceId=dev-2&token=${alice}`),
        ];
        expect(await open(`${url}/terminal?deviceId=dev-1&token=${alice}`)).toEqual({
            status: 429,
            body: { error: "too_many_user_sessions", message: "alice has 2 sessions open already" },
        });
        const others = await Promise.all(
            ["bob", "carol"].map(async (u) =>
                open(`${url}/terminal?deviceId=dev-1&token=${await realm.token({ preferred_username: u })}`),
            ),
        );
        expect(others.map((o) => o.ws?.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
        expect(
            await open(
                `${url}/terminal?deviceId=dev-1&token=${await realm.token({ preferred_username: "dave" })}`,
            ),
        ).toEqual({
            status: 429,
            body: { error: "too_many_device_sessions", message: "device dev-1 has 3 sessions open already" },
        });
        for (const s of [...a, ...others]) s.ws!.close();
    });

    it("ends a session nobody types into", async () => {
        const url = await proxy({ limits: { ...testProxyConfig().limits, idleSeconds: 1 } });
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`);
        const started = Date.now();
        expect(await closed(ws!)).toEqual({ code: 4000, reason: "idle timeout" });
        expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
        await expect
            .poll(() => events.find((e) => e.event === "terminal.session.end"))
            .toMatchObject({
                closedBy: "proxy",
                code: 4000,
            });
    });

    it("ends a session at its lifetime, and when the device goes away", async () => {
        const url = await proxy({ limits: { ...testProxyConfig().limits, maxSessionSeconds: 1 } });
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`);
        expect(await closed(ws!)).toEqual({ code: 4001, reason: "session lifetime reached" });

        const url2 = await proxy();
        const lost = await open(`${url2}/terminal?deviceId=dev-2&token=${await realm.token()}`);
        lost.ws!.send(Buffer.from(JSON.stringify({ AuthToken: "", columns: 80, rows: 24 })));
        lost.ws!.send(Buffer.from("0drop"));
        expect(await closed(lost.ws!)).toEqual({ code: 1011, reason: "device unreachable" });
        await expect
            .poll(() => events.find((e) => e.event === "terminal.session.end" && e.deviceId === "dev-2"))
            .toMatchObject({ closedBy: "device", code: 1011, reason: "device unreachable" });
    });

    it("closes a browser that sends a frame over the limit with 1009, and audits the browser's code", async () => {
        const url = await proxy({ limits: { ...testProxyConfig().limits, maxFrameBytes: 4096 } });
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`);
        ws!.send(Buffer.from(JSON.stringify({ AuthToken: "", columns: 80, rows: 24 })));
        const end = closed(ws!);
        ws!.send(Buffer.concat([Buffer.from("0"), Buffer.alloc(8192, 0x61)]));
        expect((await end).code).toBe(1009);
        expect(received.every((r) => r.data.length <= 4096)).toBe(true);
        await expect
            .poll(() => events.find((e) => e.event === "terminal.session.end"))
            .toMatchObject({ closedBy: "client", code: 1009 });

        const polite = await open(`${url}/terminal?deviceId=dev-2&token=${await realm.token()}`);
        polite.ws!.close(4100, "user closed the tab");
        await expect
            .poll(() => events.find((e) => e.event === "terminal.session.end" && e.deviceId === "dev-2"))
            .toMatchObject({ closedBy: "client", code: 4100, reason: "user closed the tab" });
    });

    it("ends at the token's expiry, and when an administrator ends it", async () => {
        const url = await proxy();
        const now = Math.floor(Date.now() / 1000);
        const short = await open(
            `${url}/terminal?deviceId=dev-1&token=${await realm.token({ exp: now + 2 })}`,
        );
        expect(await closed(short.ws!)).toEqual({ code: 4002, reason: "access token expired" });
        // The same token again, inside the verifier's clock leeway: refused before the device.
        const reused = await realm.token({ exp: now + 2 });
        const devicesBefore = upgrades.length;
        expect(await open(`${url}/terminal?deviceId=dev-1&token=${reused}`)).toEqual({
            status: 401,
            body: { error: "token_invalid", message: "token expired" },
        });
        expect(upgrades).toHaveLength(devicesBefore);
        expect(events.filter((e) => e.event === "terminal.session.refused").at(-1)).toMatchObject({
            code: "token_invalid",
            reason: "token expired",
        });

        const { ws } = await open(`${url}/terminal?deviceId=dev-2&token=${await realm.token()}`);
        const http = url.replace("ws:", "http:");
        const list = await fetch(`${http}/sessions`, {
            headers: { authorization: `Bearer ${await realm.token({ roles: ["tenant-admin"] })}` },
        });
        const { sessions } = (await list.json()) as {
            sessions: { id: string; user: string; deviceId: string }[];
        };
        expect(sessions.map((s) => [s.user, s.deviceId])).toEqual([["alice", "dev-2"]]);
        const denied = await fetch(`${http}/sessions/${sessions[0].id}`, {
            method: "DELETE",
            headers: { authorization: `Bearer ${await realm.token()}` },
        });
        expect([denied.status, await denied.json()]).toEqual([
            403,
            { error: "forbidden", message: "needs one of the roles tenant-admin" },
        ]);
        const end = closed(ws!);
        const killed = await fetch(`${http}/sessions/${sessions[0].id}`, {
            method: "DELETE",
            headers: { authorization: `Bearer ${await realm.token({ roles: ["tenant-admin"] })}` },
        });
        expect(killed.status).toBe(202);
        expect(await end).toEqual({ code: 4003, reason: "ended by an administrator" });
        expect(events.find((e) => e.event === "terminal.session.killed")).toMatchObject({ by: "alice" });
    }, 20_000);

    it("records the session in asciicast v2 when a directory is configured", async () => {
        const dir = mkdtempSync(join(tmpdir(), "cast-"));
        const url = await proxy({ recordingDir: dir });
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`);
        ws!.send(Buffer.from(JSON.stringify({ AuthToken: "", columns: 90, rows: 20 })));
        ws!.send(Buffer.from("0uptime\r"));
        await nextMessage(ws!);
        const end = closed(ws!);
        ws!.close();
        await end;
        await expect.poll(() => events.some((e) => e.event === "terminal.session.end")).toBe(true);
        const [file] = readdirSync(dir);
        const lines = readFileSync(join(dir, file), "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l));
        expect(lines[0]).toMatchObject({ version: 2, width: 90, height: 20, title: "alice on dev-1" });
        expect(lines.slice(1).map(([, kind, data]: [number, string, string]) => [kind, data])).toEqual([
            ["i", "uptime\r"],
            ["o", "echo:uptime\r"],
        ]);
    });

    it("refuses new sessions while draining", async () => {
        const url = await proxy();
        const { ws } = await open(`${url}/terminal?deviceId=dev-1&token=${await realm.token()}`);
        const end = closed(ws!);
        const draining = proxies[0].drain();
        proxies.length = 0;
        expect(await end).toEqual({ code: 1001, reason: "proxy shutting down" });
        await draining;
    });
});
