/**
 * The VPN on real WireGuard: a server and devices in network namespaces joined by veth pairs,
 * wireguard-go and wg from Debian; the server started by the VPN image's entrypoint with the
 * environment and packet filter the program renders, as root with only the capabilities its
 * container is granted; the tenant bridge as a process on real PostgreSQL, step-ca and hawkBit;
 * and the peer-sync agent applying the bridge's peer list live, its `wg` bounded to the agent
 * container's capabilities. Needs root (network namespaces).
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wireguardFirewall } from "../../components/wireguard/firewall";
import { wireguardPublicKey } from "../../components/wireguard/keys";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { PeerAgent } from "../../runtime/peer-agent/agent";
import { WireguardInterface } from "../../runtime/peer-agent/wireguard";
import { serveJwks, testRealm, TestRealm } from "../support/bridge";
import { BridgeProcess, httpsJson, startBridgeProcess } from "../support/bridge-process";
import { RunningHawkbit, startHawkbit } from "../support/hawkbit";
import { asProxy, installWireguard, Namespace, proxyUid, wireguardKeys } from "../support/netns";
import { stopPeer } from "../support/peers";
import { projectRoot } from "../../tools/stack-config";
import { csr, ecKey } from "../support/pki";
import { startTenantPeers, TenantPeers, tenantBridgeEnv } from "../support/tenant-peers";
import {
    agentWg,
    containerPrivileges,
    joinDevice,
    ServerContainer,
    startServerContainer,
} from "../support/vpn-pod";
import { Server } from "node:http";
import { Pool } from "pg";

const base = 20900 + Math.floor(Math.random() * 300);
const ports = { api: base, management: base + 1, stepCa: base + 2, jwks: base + 3, hawkbit: base + 4 };
const tag = randomBytes(3).toString("hex");
const serverIf = `wgs${tag}`;
const quiet = { info: () => undefined, warn: () => undefined };

let peers: TenantPeers;
let hawkbit: RunningHawkbit;
let jwks: Server;
let realm: TestRealm;
let bridge: BridgeProcess;
let pool: Pool;
let srv: Namespace;
const devices: Namespace[] = [];
const listeners: ChildProcess[] = [];
const stopAgent = new AbortController();
let agent: PeerAgent;
let serverKey: ReturnType<typeof wireguardKeys>;
let server: ServerContainer;
let address1 = "";
const firewallFile = join(tmpdir(), `wg-firewall-${tag}`);
/** The server container's settings here: the program's range and port, this test's files. */
const serverOptions = () => ({
    iface: serverIf,
    keyFile: serverKey.file,
    firewallFile,
    cidr: { network: "10.8.0.0", prefixLength: 16 },
    port: 51820,
});

beforeAll(async () => {
    installWireguard();
    peers = await startTenantPeers("bridge_vpn", ports.stepCa);
    hawkbit = await startHawkbit(ports.hawkbit);
    realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/acme`);
    jwks = await serveJwks(realm, ports.jwks);
    serverKey = wireguardKeys("server");
    bridge = await startBridgeProcess({
        ...peers.pg,
        BRIDGE_DATABASE: "postgres",
        ...(await tenantBridgeEnv(peers, ports, { url: hawkbit.url, ...hawkbit.bridge }, realm.issuer)),
        // Derived as the program derives it from the generated private key; `wg pubkey` agrees.
        WIREGUARD_SERVER_PUBLIC_KEY: wireguardPublicKey(serverKey.privateKey),
    });
    expect(wireguardPublicKey(serverKey.privateKey)).toBe(serverKey.publicKey);
    pool = peers.pool();
    srv = new Namespace(`cdm-srv-${tag}`);
    // Nodes forward (kube-proxy needs it) and pods inherit it: the filter must hold regardless.
    srv.exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    writeFileSync(firewallFile, wireguardFirewall(serverIf, 7681, proxyUid));
    server = await startServerContainer(srv, serverOptions());
}, 300_000);

afterAll(async () => {
    stopAgent.abort();
    await server?.stop();
    for (const l of listeners) l.kill();
    for (const ns of [srv, ...devices]) ns?.delete();
    await bridge?.stop();
    jwks?.close();
    await hawkbit?.stop();
    await peers?.close();
    stopPeer("postgres");
});

/** Enrolls a device at the bridge with its own WireGuard key; answers the enrollment. */
async function enroll(id: string, publicKey: string) {
    const { token } = await issueToken(pgDatabase(pool), {
        deviceId: id,
        ttlSeconds: 600,
        createdBy: "test",
    });
    const res = await httpsJson(`${bridge.url}/devices/${id}/enroll`, peers.root.pem, "POST", {
        csr_pem: await csr(await ecKey(), id),
        wireguard_public_key: publicKey,
        enrollment_token: token,
    });
    expect(res.status).toBe(201);
    return res.json;
}

/** A device namespace configured from its enrollment answer; `allowedIps` overrides the answer's. */
function deviceNamespace(n: number, keyFile: string, answer: any, allowedIps?: string): Namespace {
    const ns = new Namespace(`cdm-dev${n}-${tag}`);
    devices.push(ns);
    const address = joinDevice(srv, ns, n, tag, keyFile, answer.wireguard, allowedIps);
    // ttyd's port and another port, served on the device's VPN address.
    for (const port of [7681, 8080]) {
        listeners.push(
            spawn(
                "ip",
                ["netns", "exec", ns.name, "python3", "-m", "http.server", String(port), "--bind", address],
                { stdio: "ignore" },
            ),
        );
    }
    return ns;
}

/** A device configured to route the whole VPN range through its tunnel, once the server reaches it. */
async function misconfiguredDevice(n: number): Promise<[any, Namespace]> {
    const key = wireguardKeys(`dev${n}`);
    const answer = await enroll(`dev-vpn-${n}`, key.publicKey);
    const ns = deviceNamespace(n, key.file, answer, "10.8.0.0/16");
    const address = answer.wireguard.address.replace("/32", "");
    await expect.poll(() => fromProxy(`http://${address}:7681/`), { timeout: 15_000, interval: 500 }).toBe(0);
    return [answer, ns];
}

/** Exit status of an HTTP GET from namespace `from` (0 when it got an answer). */
const get = (from: Namespace, url: string) =>
    from.status("curl", "-s", "-o", "/dev/null", "--max-time", "3", url);
/** The same from the VPN pod as the terminal proxy's user (the only one that may reach ttyd). */
const fromProxy = (url: string) =>
    srv.status(...asProxy, "curl", "-s", "-o", "/dev/null", "--max-time", "3", url);
/** Whether the pod gets an answer to one ping of `address` within a second. */
const pings = (address: string) => srv.status("ping", "-c", "1", "-W", "1", address) === 0;

describe("the VPN on real WireGuard", () => {
    it("brings the server up with its declared capabilities, and not without NET_ADMIN", () => {
        expect(srv.exec("wg", "show", serverIf, "public-key").trim()).toBe(serverKey.publicKey);
        expect(srv.exec("ip", "-4", "-o", "address", "show", "dev", serverIf)).toContain("inet 10.8.0.1/16");
        expect(srv.exec("iptables", "-w", "-S", "FORWARD")).toContain(`-A FORWARD -i ${serverIf} -j DROP`);
        // The same entrypoint with MKNOD but not NET_ADMIN cannot even apply its packet filter.
        const ns = new Namespace(`cdm-nocap-${tag}`);
        devices.push(ns);
        const privileges = containerPrivileges("wireguard").map((a) => a.replace(",+net_admin", ""));
        const run = spawnSync(
            "ip",
            ["netns", "exec", ns.name, ...privileges, join(projectRoot, "runtime/wireguard-server/start.sh")],
            {
                env: {
                    PATH: process.env.PATH ?? "",
                    WG_INTERFACE: `wgx${tag}`,
                    WG_ADDRESS: "10.8.0.1/16",
                    WG_PRIVATE_KEY_FILE: serverKey.file,
                    WG_FIREWALL_FILE: firewallFile,
                },
                encoding: "utf8",
                timeout: 20_000,
            },
        );
        expect(run.status).not.toBe(0);
        expect(run.stderr).toMatch(/Permission denied|Operation not permitted/);
        expect(ns.status("ip", "link", "show", `wgx${tag}`)).not.toBe(0);
    });

    it("refuses to start without its key, naming the variable or file", () => {
        const run = spawnSync(join(projectRoot, "runtime/wireguard-server/start.sh"), [], {
            env: { PATH: process.env.PATH ?? "", WG_ADDRESS: "10.8.0.1/16", WG_FIREWALL_FILE: firewallFile },
            encoding: "utf8",
        });
        expect(run.status).not.toBe(0);
        expect(run.stderr).toContain("WG_PRIVATE_KEY_FILE is required (the server private key file)");
        const missing = spawnSync(join(projectRoot, "runtime/wireguard-server/start.sh"), [], {
            env: {
                PATH: process.env.PATH ?? "",
                WG_ADDRESS: "10.8.0.1/16",
                WG_PRIVATE_KEY_FILE: "/nonexistent/private-key",
                WG_FIREWALL_FILE: firewallFile,
            },
            encoding: "utf8",
        });
        expect(missing.status).toBe(2);
        expect(missing.stderr).toBe("wireguard-server: cannot read /nonexistent/private-key\n");
    });

    it("resyncs on start, then adds enrolled devices live; the pod reaches devices on ttyd's port only", async () => {
        const stray = wireguardKeys("stray");
        srv.exec("wg", "set", serverIf, "peer", stray.publicKey, "allowed-ips", "10.8.9.9/32");
        agent = new PeerAgent({
            // By address, as the agent calls the in-cluster Service; the certificate names the host.
            bridgeUrl: `https://127.0.0.1:${ports.api}`,
            serverName: "localhost",
            token: "p".repeat(40),
            caPem: peers.root.pem,
            wireguard: new WireguardInterface(serverIf, agentWg(srv)),
            waitSeconds: 20,
            log: quiet,
        });
        const wg = new WireguardInterface(serverIf, ["ip", "netns", "exec", srv.name, "wg"]);
        void agent.run(stopAgent.signal);
        await expect.poll(async () => [...(await wg.peers()).keys()], { timeout: 10_000 }).toEqual([]);

        const key1 = wireguardKeys("dev1");
        const answer = await enroll("dev-vpn-1", key1.publicKey);
        // Within 2 s of the bridge's answer the peer is on the server, and the device, once it
        // brings its tunnel up (a device that tried before the peer was there would wait for
        // WireGuard's 5 s handshake retry), answers the pod's ping.
        const answered = Date.now();
        await expect
            .poll(async () => (await wg.peers()).get(key1.publicKey), { timeout: 2_000, interval: 10 })
            .toBe(answer.wireguard.address);
        const peerMs = Date.now() - answered;
        const dev1 = deviceNamespace(1, key1.file, answer);
        const address = answer.wireguard.address.replace("/32", "");
        await expect
            .poll(() => pings(address), { timeout: 2_000 - (Date.now() - answered), interval: 50 })
            .toBe(true);
        const activeMs = Date.now() - answered;
        console.log(`enrolled device: peer on the server after ${peerMs} ms, pingable after ${activeMs} ms`);
        expect(activeMs).toBeLessThan(2_000);
        address1 = address;
        await expect
            .poll(() => fromProxy(`http://${address}:7681/`), { timeout: 15_000, interval: 500 })
            .toBe(0);
        expect(fromProxy(`http://${address}:8080/`)).not.toBe(0);
        // The pod's other containers (root) do not reach ttyd: only the proxy's user does.
        expect(get(srv, `http://${address}:7681/`)).not.toBe(0);
        // Devices open nothing towards the server.
        expect(
            dev1.status("curl", "-s", "-o", "/dev/null", "--max-time", "3", "http://10.8.0.1:51820/"),
        ).not.toBe(0);
    }, 120_000);

    it("drops device-to-device traffic at the server, because of its packet filter", async () => {
        const key2 = wireguardKeys("dev2");
        const answer2 = await enroll("dev-vpn-2", key2.publicKey);
        const dev2 = deviceNamespace(2, key2.file, answer2);
        const address2 = answer2.wireguard.address.replace("/32", "");
        await expect
            .poll(() => fromProxy(`http://${address2}:7681/`), { timeout: 15_000, interval: 500 })
            .toBe(0);
        // A device with the configuration it was given reaches nothing but the server: not the
        // first device, which the pod does reach, nor its ping.
        expect(address1).toMatch(/^10\.8\.\d+\.\d+$/);
        expect(fromProxy(`http://${address1}:7681/`)).toBe(0);
        expect(get(dev2, `http://${address1}:7681/`)).not.toBe(0);
        expect(dev2.status("ping", "-c", "1", "-W", "1", address1)).not.toBe(0);
        // Nor does a device ping the server.
        expect(dev2.status("ping", "-c", "1", "-W", "1", "10.8.0.1")).not.toBe(0);
        // Two devices that route the whole range through the tunnel (against their configuration)
        // still cannot reach each other.
        const [, dev3] = await misconfiguredDevice(3);
        const [answer4] = await misconfiguredDevice(4);
        const address4 = answer4.wireguard.address.replace("/32", "");
        expect(get(dev3, `http://${address4}:7681/`)).not.toBe(0);
        // Without the filter the server would forward it: the filter is what stops it.
        srv.exec("iptables", "-w", "-F", "FORWARD");
        srv.exec("iptables", "-w", "-P", "FORWARD", "ACCEPT");
        expect(get(dev3, `http://${address4}:7681/`)).toBe(0);
        srv.execWithInput(wireguardFirewall(serverIf, 7681, proxyUid), "iptables-restore", "-w");
        expect(get(dev3, `http://${address4}:7681/`)).not.toBe(0);
    }, 120_000);

    it("removes a decommissioned device's peer live, and the pod can no longer reach it", async () => {
        const wg = new WireguardInterface(serverIf, ["ip", "netns", "exec", srv.name, "wg"]);
        expect((await wg.peers()).size).toBe(4);
        const { rows } = await pool.query<{ key: string }>(
            "SELECT wireguard_public_key AS key FROM devices WHERE id = 'dev-vpn-1'",
        );
        const admin = await realm.token({ roles: ["tenant-admin"] });
        const gone = await httpsJson(`${bridge.url}/devices/dev-vpn-1`, peers.root.pem, "DELETE", undefined, {
            bearer: admin,
        });
        expect(gone.status).toBe(200);
        await expect.poll(async () => (await wg.peers()).has(rows[0].key), { timeout: 10_000 }).toBe(false);
        expect((await wg.peers()).size).toBe(3);
        expect(fromProxy(`http://${gone.json.wireguardAddress}:7681/`)).not.toBe(0);
    }, 60_000);

    it("restores every peer when the server's container restarts with a new interface", async () => {
        const wg = new WireguardInterface(serverIf, ["ip", "netns", "exec", srv.name, "wg"]);
        const before = await wg.peers();
        expect(before.size).toBe(3);
        expect(await server.stop()).toBe(0);
        server = await startServerContainer(srv, serverOptions());
        expect((await wg.peers()).size).toBe(0);
        // The agent notices after its current long poll (20 s here) and resyncs.
        await expect.poll(async () => wg.peers(), { timeout: 40_000, interval: 500 }).toEqual(before);
    }, 60_000);

    it("stops cleanly on SIGTERM, keeping the tunnel up for the drain delay, then taking it down", async () => {
        const stopped = server.stop();
        await new Promise((r) => setTimeout(r, 300));
        expect(srv.status("ip", "link", "show", serverIf)).toBe(0);
        expect(server.output()).toContain("stopping in 1s");
        expect(await stopped).toBe(0);
        expect(srv.status("ip", "link", "show", serverIf)).not.toBe(0);
        expect(spawnSync("pgrep", ["-f", `^wireguard-go ${serverIf}$`]).status).not.toBe(0);
    });
});
