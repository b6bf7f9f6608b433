/**
 * The terminal proxy against real peers: users' tokens from a real Keycloak with the tenant
 * realms the program renders, real ttyd 1.7.7 (tests/support/ttyd-peer.ts) logging the proxy in
 * with the credential the bridge derived, the tenant bridge's real lookup on real PostgreSQL,
 * and, for the whole path, the proxy as its own process in the VPN server's network namespace
 * reaching a shell in a device's namespace over real WireGuard. Needs root.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createConnection, createServer, Server as NetServer } from "node:net";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
    brokerRedirectUri,
    federationClient,
    issuerUrl,
    platformRealm,
    tenantRealm,
} from "../../components/keycloak/model";
import { wireguardFirewall } from "../../components/wireguard/firewall";
import { wireguardPublicKey } from "../../components/wireguard/keys";
import { Database, pgDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { PeerAgent } from "../../runtime/peer-agent/agent";
import { WireguardInterface } from "../../runtime/peer-agent/wireguard";
import { accessTokenVerifier } from "../../runtime/shared/auth/access-token";
import { DeviceDirectory } from "../../runtime/terminal-proxy/devices";
import { TerminalMetrics } from "../../runtime/terminal-proxy/metrics";
import { startTerminalProxy, TerminalProxy } from "../../runtime/terminal-proxy/server";
import { projectRoot } from "../../tools/stack-config";
import { listeningTenantBridge } from "../support/bridge";
import { browserLogin } from "../support/browser-login";
import { RunningKeycloak, startKeycloak } from "../support/keycloak";
import { asProxy, installWireguard, Namespace, proxyUid, wireguardKeys } from "../support/netns";
import { freshDatabase, pgPool, stopPeer } from "../support/peers";
import { csr, ecKey } from "../support/pki";
import { closed, openTerminal, testProxyConfig } from "../support/terminal";
import { installTtyd, startTtydPeer, TtydPeer } from "../support/ttyd-peer";
import { agentWg, joinDevice, ServerContainer, startServerContainer } from "../support/vpn-pod";

const tag = randomBytes(3).toString("hex");
const password = "correct-horse-battery";
let kc: RunningKeycloak;
let db: Database;
let bridge: Awaited<ReturnType<typeof listeningTenantBridge>>;
const ttyds: TtydPeer[] = [];
const namespaces: Namespace[] = [];
const cleanups: (() => unknown)[] = [];

/** Enrolls `id` at the bridge with WireGuard public key `wgKey`; answers the enrollment answer. */
async function enroll(id: string, wgKey = randomBytes(32).toString("base64")): Promise<any> {
    const { token } = await issueToken(db, { deviceId: id, ttlSeconds: 600, createdBy: "test" });
    const res = await bridge.app.inject({
        method: "POST",
        url: `/devices/${id}/enroll`,
        payload: {
            csr_pem: await csr(await ecKey(), id),
            wireguard_public_key: wgKey,
            enrollment_token: token,
        },
    });
    expect(res.statusCode).toBe(201);
    return res.json();
}

const login = async (tenant: string, username: string) =>
    (
        await browserLogin({
            issuer: issuerUrl(kc.origin, tenant),
            clientId: "terminal-proxy",
            redirectUri: `https://terminal.${tenant}.cdm.example.com/callback`,
            username,
            password,
        })
    ).access_token;

beforeAll(async () => {
    installWireguard();
    installTtyd();
    const port = 18800 + Math.floor(Math.random() * 300);
    kc = await startKeycloak(port, port + 1000);
    await kc.admin.applyRealm(platformRealm("cdm.example.com"));
    for (const tenant of ["acme", "globex"]) {
        const client = federationClient(tenant, brokerRedirectUri(kc.origin, tenant, "provider"));
        const id = await kc.admin.call("POST", "/platform/clients", {
            clientId: client.clientId,
            publicClient: false,
            redirectUris: client.redirectUris,
        });
        const secret = (await kc.admin.call("GET", `/platform/clients/${id}/client-secret`)).value;
        const at = (s: string) => `https://${s}.${tenant}.cdm.example.com`;
        const origins = {
            identity: kc.origin,
            things: at("things"),
            grafana: at("grafana"),
            ota: at("ota"),
            terminal: at("terminal"),
        };
        await kc.admin.applyRealm(
            tenantRealm(tenant, tenant, origins, issuerUrl(kc.origin, "platform")),
            secret,
        );
        await kc.admin.createUser(tenant, `${tenant}-operator`, password, ["operator", "device-terminal"]);
        await kc.admin.createUser(tenant, `${tenant}-viewer`, password, ["viewer"]);
        await kc.admin.createUser(tenant, `${tenant}-admin`, password, ["tenant-admin", "device-terminal"]);
    }
    db = pgDatabase(pgPool(await freshDatabase("terminal_proxy_it"), 4));
    await migrate(db);
    bridge = await listeningTenantBridge(db);
}, 240_000);

afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    for (const t of ttyds) await t.close();
    for (const ns of namespaces) ns.delete();
    await bridge?.app.close();
    await db?.close();
    await kc?.stop();
    stopPeer("postgres");
});

/** Logs in to the shell through the proxy and runs `command`; answers the output once `until` appears. */
async function runInTerminal(ws: WebSocket, command: string, until: RegExp): Promise<string> {
    let output = "";
    const done = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
            () => reject(new Error(`no ${until} in the terminal's output:\n${output}`)),
            15_000,
        );
        ws.on("message", (data: Buffer) => {
            if (data[0] === 0x30) output += data.subarray(1).toString();
            if (until.test(output)) {
                clearTimeout(timer);
                resolve(output);
            }
        });
    });
    // The browser's handshake carries no credential: the proxy puts the device's in.
    ws.send(Buffer.from(JSON.stringify({ AuthToken: "", columns: 100, rows: 30 })));
    ws.send(Buffer.from(`0${command}\r`));
    return done;
}

describe("the terminal proxy on loopback, with Keycloak's tokens and real ttyd", () => {
    let proxy: TerminalProxy;
    let url = "";
    let ttyd: TtydPeer;

    beforeAll(async () => {
        const answer = await enroll("dev-term-1");
        const { username, password: secret } = answer.terminal;
        ttyd = await startTtydPeer({
            credential: `${username}:${secret}`,
            writable: true,
            command: ["/bin/sh"],
        });
        ttyds.push(ttyd);
        await enroll("dev-term-2");
        const wrong = await startTtydPeer({ credential: "cdm-terminal:not-the-derived-one", writable: true });
        ttyds.push(wrong);
        // The bridge answers the devices' VPN addresses; on loopback each is its ttyd here.
        const directory = new DeviceDirectory(
            {
                url: `https://127.0.0.1:${bridge.port}`,
                token: bridge.tenant.serviceTokens.terminalProxy,
                caPem: bridge.rootPem,
                serverName: "localhost",
            },
            10_000,
        );
        const local: Record<string, number> = { "dev-term-1": ttyd.port, "dev-term-2": wrong.port };
        proxy = await startTerminalProxy(testProxyConfig({ allowedOrigins: [] }), {
            verify: accessTokenVerifier({
                issuer: issuerUrl(kc.origin, "acme"),
                audience: "terminal-proxy",
                tenant: "acme",
            }),
            devices: {
                lookup: async (id) => {
                    const device = await directory.lookup(id);
                    return { ...device, address: "127.0.0.1", port: local[id] ?? 1 };
                },
            },
            log: pino({ level: "silent" }),
            metrics: new TerminalMetrics(false),
        });
        url = `ws://127.0.0.1:${(proxy.app.server.address() as AddressInfo).port}/terminal`;
    }, 60_000);

    afterAll(async () => {
        await proxy?.drain();
    });

    it("opens a shell for an operator with the device-terminal role", async () => {
        const { ws } = await openTerminal(
            `${url}?deviceId=dev-term-1&token=${await login("acme", "acme-operator")}`,
        );
        const output = await runInTerminal(ws!, "echo hello-$((6*7))", /hello-42/);
        expect(output).toContain("hello-42");
        await expect.poll(() => ttyd.connections()).toBe(1);
        const end = closed(ws!);
        ws!.send(Buffer.from("0exit 3\r"));
        expect(await end).toEqual({ code: 1000, reason: "terminal ended with an error" });
        // ttyd logs the closed socket a moment after the proxy closes; the next test compares logs.
        await expect.poll(() => ttyd.connections()).toBe(0);
    });

    it("refuses users without the role, other tenants' users and unknown devices, before ttyd sees them", async () => {
        const before = ttyd.log();
        expect(
            await openTerminal(`${url}?deviceId=dev-term-1&token=${await login("acme", "acme-viewer")}`),
        ).toEqual({
            status: 403,
            body: { error: "forbidden", message: "needs one of the roles device-terminal" },
        });
        expect(
            await openTerminal(
                `${url}?deviceId=dev-term-1&token=${await login("globex", "globex-operator")}`,
            ),
        ).toEqual({
            status: 401,
            // Another realm signs with its own keys: refused before its claims are even read.
            body: { error: "token_invalid", message: "token was not signed by a key of the realm" },
        });
        const operator = await login("acme", "acme-operator");
        expect(await openTerminal(`${url}?deviceId=dev-globex-1&token=${operator}`)).toEqual({
            status: 404,
            body: {
                error: "device_not_found",
                message: "device dev-globex-1 is not enrolled in this tenant",
            },
        });
        expect(ttyd.log()).toBe(before);
    });

    it("fails cleanly when the device's ttyd does not accept the bridge's credential", async () => {
        const answer = await openTerminal(
            `${url}?deviceId=dev-term-2&token=${await login("acme", "acme-operator")}`,
        );
        expect(answer).toEqual({
            status: 502,
            body: {
                error: "device_unreachable",
                message: "the device's terminal is unreachable or refused the proxy",
            },
        });
        expect(proxy.sessions.size).toBe(0);
    });
});

/** Forwards `listen` (an address in the root namespace) to 127.0.0.1:`target`. */
async function forward(listen: string, target: number): Promise<number> {
    const server: NetServer = createServer((socket) => {
        const upstream = createConnection(target, "127.0.0.1");
        socket.pipe(upstream).pipe(socket);
        socket.on("error", () => upstream.destroy());
        upstream.on("error", () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, listen, resolve));
    cleanups.push(() => new Promise((r) => server.close(r)));
    return (server.address() as AddressInfo).port;
}

describe("the whole path: browser → proxy in the VPN pod → WireGuard → ttyd on the device", () => {
    it("runs a command in the device's namespace", async () => {
        const srv = new Namespace(`cdm-tsrv-${tag}`);
        namespaces.push(srv);
        const serverIf = `wgt${tag}`;
        const key = wireguardKeys(`tsrv-${tag}`);
        const firewall = join(tmpdir(), `terminal-fw-${tag}`);
        writeFileSync(firewall, wireguardFirewall(serverIf, 7681, proxyUid));
        const server: ServerContainer = await startServerContainer(srv, {
            iface: serverIf,
            keyFile: key.file,
            firewallFile: firewall,
            cidr: { network: "10.8.0.0", prefixLength: 16 },
            port: 51820,
        });
        cleanups.push(() => server.stop());
        expect(wireguardPublicKey(key.privateKey)).toBe(key.publicKey);

        // The device: enrolled with its own WireGuard key, its tunnel up, ttyd on its VPN address.
        const deviceKey = wireguardKeys(`tdev-${tag}`);
        const answer = await enroll("dev-term-3", deviceKey.publicKey);
        const device = new Namespace(`cdm-tdev-${tag}`);
        namespaces.push(device);
        const address = joinDevice(srv, device, 9, tag, deviceKey.file, {
            ...answer.wireguard,
            server_public_key: key.publicKey,
        });
        ttyds.push(
            await startTtydPeer({
                netns: device.name,
                interfaceAddress: address,
                port: 7681,
                credential: `${answer.terminal.username}:${answer.terminal.password}`,
                writable: true,
            }),
        );
        const agent = new PeerAgent({
            bridgeUrl: `https://127.0.0.1:${bridge.port}`,
            serverName: "localhost",
            token: bridge.tenant.serviceTokens.peerAgent,
            caPem: bridge.rootPem,
            wireguard: new WireguardInterface(serverIf, agentWg(srv)),
            waitSeconds: 10,
            log: { info: () => undefined, warn: () => undefined },
        });
        const stopAgent = new AbortController();
        void agent.run(stopAgent.signal);
        cleanups.push(() => stopAgent.abort());

        // The proxy as its own process in the server's namespace, like its container in the pod;
        // Keycloak's keys and the bridge reach it through forwards on a link to that namespace.
        const hostEnd = "192.168.99.1";
        const podEnd = "192.168.99.2";
        const veth = `vt${tag}`;
        for (const args of [
            ["link", "add", `${veth}a`, "type", "veth", "peer", "name", `${veth}b`],
            ["link", "set", `${veth}b`, "netns", srv.name],
            ["address", "add", `${hostEnd}/24`, "dev", `${veth}a`],
            ["link", "set", `${veth}a`, "up"],
        ]) {
            execFileSync("ip", args);
        }
        srv.exec("ip", "address", "add", `${podEnd}/24`, "dev", `${veth}b`);
        srv.exec("ip", "link", "set", `${veth}b`, "up");
        cleanups.push(() => spawnSync("ip", ["link", "delete", `${veth}a`]));
        const keycloakPort = await forward(hostEnd, Number(new URL(kc.origin).port));
        const bridgePort = await forward(hostEnd, bridge.port);
        const caFile = join(tmpdir(), `terminal-ca-${tag}.pem`);
        writeFileSync(caFile, bridge.rootPem);
        const proxyPort = 18700 + Math.floor(Math.random() * 100);
        let output = "";
        const proxy: ChildProcess = spawn(
            "ip",
            [
                "netns",
                "exec",
                srv.name,
                // As in the pod: the proxy's uid is the one the packet filter lets reach ttyd.
                ...asProxy,
                process.execPath,
                "--import",
                "tsx",
                join(projectRoot, "runtime/terminal-proxy/main.ts"),
            ],
            {
                cwd: projectRoot,
                env: {
                    PATH: process.env.PATH ?? "",
                    TERMINAL_PORT: String(proxyPort),
                    TERMINAL_MANAGEMENT_PORT: String(proxyPort + 1),
                    TERMINAL_TENANT_ID: "acme",
                    OIDC_ISSUER: issuerUrl(kc.origin, "acme"),
                    OIDC_JWKS_URL: `http://${hostEnd}:${keycloakPort}/auth/realms/acme/protocol/openid-connect/certs`,
                    BRIDGE_URL: `https://${hostEnd}:${bridgePort}`,
                    BRIDGE_TLS_SERVER_NAME: "localhost",
                    BRIDGE_CA_FILE: caFile,
                    TERMINAL_PROXY_TOKEN: bridge.tenant.serviceTokens.terminalProxy,
                },
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
        proxy.stdout!.on("data", (d: Buffer) => (output += d.toString()));
        proxy.stderr!.on("data", (d: Buffer) => (output += d.toString()));
        cleanups.push(() => proxy.kill("SIGTERM"));
        await expect
            .poll(() => output.includes("terminal proxy listening"), { timeout: 30_000, interval: 200 })
            .toBe(true);

        const { ws } = await openTerminal(
            `ws://${podEnd}:${proxyPort}/terminal?deviceId=dev-term-3&token=${await login("acme", "acme-operator")}`,
        );
        expect(ws, output).toBeDefined();
        const shown = await runInTerminal(ws!, "ip -o -4 address show; echo done-$((6*7))", /done-42/);
        // The shell runs in the device's namespace: it has the device's VPN address.
        expect(shown).toContain(`inet ${address}/32`);
        ws!.close();
        await expect
            .poll(() => output.includes('"event":"terminal.session.end"'), { timeout: 10_000 })
            .toBe(true);
        expect(output).toContain('"deviceId":"dev-term-3"');
        expect(output).not.toContain("token=");
    }, 120_000);
});
