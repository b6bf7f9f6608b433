/**
 * The device enrollment agent (device-image/rootfs/usr/sbin/cdm-enroll, POSIX sh) run for real
 * against the tenant bridge as a process on real PostgreSQL, step-ca and hawkBit: it enrolls
 * with keys it made itself and writes exactly the files and modes it should; the certificate
 * verifies to the root; its WireGuard config, applied by the agent itself in a device network
 * namespace, reaches the VPN server (the VPN image's entrypoint in a server namespace, its peer
 * added live by the real peer-sync agent), where ttyd with the written credential answers over
 * the tunnel; its updater config polls real hawkBit; a second run calls nobody; renewal over
 * mutual TLS keeps the key. Then a test-only fault-injecting proxy in front of the bridge shows
 * the agent retrying 5xx, 429, timeouts, cut connections and malformed answers, and stopping on
 * a 4xx without leaving anything half-written. Needs root (network namespaces).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wireguardFirewall } from "../../components/wireguard/firewall";
import { wireguardPublicKey } from "../../components/wireguard/keys";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { PeerAgent } from "../../runtime/peer-agent/agent";
import { WireguardInterface } from "../../runtime/peer-agent/wireguard";
import { HawkbitClient } from "../../runtime/shared/hawkbit/client";
import { x509 } from "../../runtime/shared/x509";
import { serveJwks, testRealm, TestRealm } from "../support/bridge";
import { BridgeProcess, httpsJson, startBridgeProcess } from "../support/bridge-process";
import {
    AgentPeers,
    agentScript,
    DeviceRoot,
    FaultInjectionProxy,
    installDeviceTools,
    startAgentPeers,
    parseEnvFile,
    parseIni,
} from "../support/device-agent";
import { RunningHawkbit, startHawkbit } from "../support/hawkbit";
import { installWireguard, link, Namespace, wireguardKeys } from "../support/netns";
import { localhostTls } from "../support/pki";
import { tenantBridgeEnv } from "../support/tenant-peers";
import { startTtydPeer, TtydPeer } from "../support/ttyd-peer";
import { agentWg, ServerContainer, startServerContainer } from "../support/vpn-pod";

const base = 23300 + Math.floor(Math.random() * 100) * 8;
const ports = {
    api: base,
    management: base + 1,
    stepCa: base + 2,
    jwks: base + 3,
    hawkbit: base + 4, // and its PostgreSQL on base + 5
    proxy: base + 6,
    postgres: base + 7,
};
const tag = randomBytes(3).toString("hex");
const deviceId = `dev-agent-${tag}`;
/** The link between the device and server namespaces; the server's end is the VPN endpoint. */
const net = { server: "192.168.90.1", device: "192.168.90.2" };
const serverIf = `was${tag}`;
const deviceIf = `wad${tag}`;
const firewallFile = join(tmpdir(), `agent-firewall-${tag}`);
const quiet = { info: () => undefined, warn: () => undefined };

let peers: AgentPeers;
let hawkbit: RunningHawkbit;
let realm: TestRealm;
let jwks: Server;
let bridge: BridgeProcess;
let pool: Pool;
let proxy: FaultInjectionProxy;
let proxyUrl: string;
let srv: Namespace;
let dev: Namespace;
let server: ServerContainer;
let serverKey: ReturnType<typeof wireguardKeys>;
let ttyd: TtydPeer | undefined;
const stopPeerAgent = new AbortController();
const roots: DeviceRoot[] = [];
/** The device every test of the first group works on, and the token it enrolled with. */
let device: DeviceRoot;
let deviceToken: string;

beforeAll(async () => {
    installWireguard();
    installDeviceTools();
    peers = await startAgentPeers(ports);
    hawkbit = await startHawkbit(ports.hawkbit);
    realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/acme`);
    jwks = await serveJwks(realm, ports.jwks);
    serverKey = wireguardKeys(`agent-server-${tag}`);
    bridge = await startBridgeProcess({
        ...peers.pg,
        BRIDGE_DATABASE: "postgres",
        ...(await tenantBridgeEnv(peers, ports, { url: hawkbit.url, ...hawkbit.bridge }, realm.issuer)),
        // Devices are told the server namespace's end of their link.
        WIREGUARD_ENDPOINT: `${net.server}:51820`,
        WIREGUARD_SERVER_PUBLIC_KEY: wireguardPublicKey(serverKey.privateKey),
    });
    pool = peers.pool();
    proxy = new FaultInjectionProxy(bridge.url, peers.root.pem, await localhostTls(peers.ica));
    proxyUrl = await proxy.listen(ports.proxy);

    srv = new Namespace(`cdm-asrv-${tag}`);
    dev = new Namespace(`cdm-adev-${tag}`);
    link(srv, `${net.server}/24`, dev, `${net.device}/24`, `va${tag}`);
    writeFileSync(firewallFile, wireguardFirewall(serverIf, 7681));
    server = await startServerContainer(srv, {
        iface: serverIf,
        keyFile: serverKey.file,
        firewallFile,
        cidr: { network: "10.8.0.0", prefixLength: 16 },
        port: 51820,
    });
    const agent = new PeerAgent({
        bridgeUrl: `https://127.0.0.1:${ports.api}`,
        serverName: "localhost",
        token: "p".repeat(40),
        caPem: peers.root.pem,
        wireguard: new WireguardInterface(serverIf, agentWg(srv)),
        waitSeconds: 20,
        log: quiet,
    });
    void agent.run(stopPeerAgent.signal);
}, 300_000);

afterAll(async () => {
    stopPeerAgent.abort();
    await ttyd?.close();
    if (dev) {
        // The agent brought the tunnel up with wireguard-go, which outlives its namespace.
        dev.status("ip", "link", "delete", deviceIf);
        const left = spawnSync("pgrep", ["-f", `^wireguard-go ${deviceIf}$`], { encoding: "utf8" }).stdout;
        for (const pid of left.split("\n").filter(Boolean)) process.kill(Number(pid));
    }
    await server?.stop();
    for (const ns of [srv, dev]) ns?.delete();
    await proxy?.close();
    await bridge?.stop();
    jwks?.close();
    await hawkbit?.stop();
    await peers?.close();
    for (const root of roots) root.remove();
    rmSync(firewallFile, { force: true });
});

async function enrollmentToken(id: string): Promise<string> {
    return (await issueToken(pgDatabase(pool), { deviceId: id, ttlSeconds: 900, createdBy: "test" })).token;
}

function deviceRoot(name: string, id: string, bridgeUrl: string): DeviceRoot {
    const root = new DeviceRoot(name, { bridgeUrl, deviceId: id, rootPem: peers.root.pem });
    roots.push(root);
    return root;
}

/** The bridge's view of a device (its management API, as a tenant admin). */
async function bridgeDevice(id: string): Promise<any> {
    const admin = await realm.token({ roles: ["tenant-admin"] });
    const res = await httpsJson(`${bridge.url}/devices/${id}`, peers.root.pem, "GET", undefined, {
        bearer: admin,
    });
    expect(res.status).toBe(200);
    return res.json;
}

function openssl(args: string[], input?: string): string {
    return execFileSync("openssl", args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

/** The certificates of a PEM bundle, in order. */
function certificates(pem: string): x509.X509Certificate[] {
    return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
        (p) => new x509.X509Certificate(p),
    );
}

/** The stderr lines of a run, without the variable retry delay. */
function lines(stderr: string): string[] {
    return stderr
        .trimEnd()
        .split("\n")
        .map((l) => l.replace(/retrying in [12]s$/, "retrying in Ns"));
}

/** Files and modes of a device root after a full enrollment (the token deleted). */
const enrolledTree = {
    "etc/": "755",
    "etc/cdm/": "755",
    "etc/cdm/enroll.conf": "644",
    "etc/cdm/mqtt.conf": "644",
    "etc/cdm/telegraf.env": "600",
    "etc/cdm/ttyd.env": "600",
    "etc/rauc-hawkbit-updater/": "755",
    "etc/rauc-hawkbit-updater/config.conf": "600",
    "etc/wireguard/": "700",
    "etc/wireguard/wg0.conf": "600",
    "state/": "700",
    "state/chain.pem": "600",
    "state/device.crt": "600",
    "state/device.key": "600",
    "state/enrollment.json": "600",
    "state/fullchain.pem": "600",
    "state/root-ca.pem": "600",
    "state/wireguard.key": "600",
    "state/wireguard.pub": "600",
};

/** What is left of a device whose enrollment was refused: its keys, its config and its token. */
const refusedTree = {
    "etc/": "755",
    "etc/cdm/": "755",
    "etc/cdm/enroll.conf": "644",
    "etc/cdm/enrollment-token": "600",
    "state/": "700",
    "state/device.key": "600",
    "state/wireguard.key": "600",
    "state/wireguard.pub": "600",
};

describe("the enrollment agent against the real bridge", () => {
    it("is POSIX sh: shellcheck -s sh is clean, dash and busybox parse it", () => {
        const check = spawnSync("shellcheck", ["-s", "sh", agentScript], { encoding: "utf8" });
        expect(check.stdout + check.stderr).toBe("");
        expect(check.status).toBe(0);
        expect(spawnSync("dash", ["-n", agentScript]).status).toBe(0);
        if (existsSync("/usr/bin/busybox") || existsSync("/bin/busybox")) {
            expect(spawnSync("busybox", ["sh", "-n", agentScript]).status).toBe(0);
        }
    });

    it("refuses a bad configuration before touching anything (exit 2)", async () => {
        const bad = deviceRoot("bad-config", "Dev_1", "http://localhost:1");
        const url = await bad.run();
        expect([url.status, url.stderr]).toEqual([
            2,
            "cdm-enroll: BRIDGE_URL must be an https:// URL, not http://localhost:1\n",
        ]);
        bad.writeConfig({ bridgeUrl: bridge.url });
        const id = await bad.run();
        expect([id.status, id.stderr]).toEqual([
            2,
            "cdm-enroll: DEVICE_ID must be a lower-case DNS label (a-z, 0-9, -), not 'Dev_1'\n",
        ]);
        bad.writeConfig({ deviceId: "dev-1" });
        const token = await bad.run();
        expect(token.status).toBe(2);
        expect(lines(token.stderr).at(-1)).toBe(
            `cdm-enroll: not enrolled, and no enrollment token in ${bad.tokenFile}`,
        );
        expect(await bad.run(["rotate"])).toMatchObject({ status: 2 });
    });

    it("enrolls: keys made on the device, exact files and modes, a certificate that verifies to the root", async () => {
        device = deviceRoot("main", deviceId, bridge.url);
        deviceToken = await enrollmentToken(deviceId);
        device.writeToken(deviceToken);
        const run = await device.run();
        expect(run.status, run.stderr).toBe(0);
        const record = JSON.parse(device.read("state/enrollment.json"));
        const { state } = device;
        expect(lines(run.stderr)).toEqual([
            `cdm-enroll: made the device key (EC P-256) in ${state}/device.key`,
            `cdm-enroll: made the WireGuard key in ${state}/wireguard.key`,
            `cdm-enroll: enrolling ${deviceId} at ${bridge.url}`,
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 1)",
            `cdm-enroll: enrolled: address 10.8.0.2/32, certificate valid until ${record.certificate_not_after}`,
            "cdm-enroll: trust store: skipped (CDM_NO_TRUST_STORE=1)",
            "cdm-enroll: services: skipped (CDM_NO_SERVICES=1)",
            "cdm-enroll: configured: wireguard.pub enrollment.json root-ca.pem chain.pem device.crt fullchain.pem " +
                "wireguard/wg0.conf rauc-hawkbit-updater/config.conf cdm/mqtt.conf cdm/telegraf.env cdm/ttyd.env",
        ]);
        // Exactly these files with these modes; the used token is gone.
        expect(device.tree()).toEqual(enrolledTree);

        // The key: EC P-256, the certificate's, and nowhere else in the device's tree.
        const key = device.read("state/device.key");
        expect(openssl(["pkey", "-in", join(state, "device.key"), "-noout", "-text"])).toContain(
            "ASN1 OID: prime256v1",
        );
        const publicKey = openssl(["pkey", "-in", join(state, "device.key"), "-pubout"]);
        expect(openssl(["x509", "-in", join(state, "device.crt"), "-noout", "-pubkey"])).toBe(publicKey);
        const keyBody = key.replace(/-----[A-Z ]+-----|\s/g, "");
        const copies = Object.keys(device.tree()).filter(
            (p) => !p.endsWith("/") && device.read(p).replace(/\s/g, "").includes(keyBody.slice(0, 40)),
        );
        expect(copies).toEqual(["state/device.key"]);

        // The certificate: this device's, from the Sub-CA, verifying to the root through the chain.
        const [cert] = certificates(device.read("state/device.crt"));
        expect(cert.subject).toBe(`CN=${deviceId}`);
        expect(cert.issuer).toBe(peers.subCa.cert.subject);
        expect(certificates(device.read("state/chain.pem")).map((c) => c.subject)).toEqual([
            peers.subCa.cert.subject,
            peers.ica.cert.subject,
        ]);
        expect(
            openssl([
                "verify",
                "-no-CApath",
                "-CAfile",
                join(state, "root-ca.pem"),
                "-untrusted",
                join(state, "chain.pem"),
                join(state, "device.crt"),
            ]),
        ).toBe(`${join(state, "device.crt")}: OK\n`);
        expect(device.read("state/root-ca.pem").trim()).toBe(peers.root.pem.trim());
        expect(device.read("state/fullchain.pem")).toBe(
            device.read("state/device.crt") + device.read("state/chain.pem"),
        );
        const view = await bridgeDevice(deviceId);
        expect(cert.serialNumber.toLowerCase()).toBe(view.certificateSerial);
        expect(view.wireguardAddress).toBe("10.8.0.2");
        expect(device.read("state/wireguard.pub")).toBe(`${view.wireguardPublicKey}\n`);
        expect(
            execFileSync("wg", ["pubkey"], { input: device.read("state/wireguard.key"), encoding: "utf8" }),
        ).toBe(`${view.wireguardPublicKey}\n`);
    });

    it("writes the WireGuard, updater, MQTT, Telegraf and ttyd settings from the answer", async () => {
        const { state } = device;
        const wgKey = device.read("state/wireguard.key").trim();
        expect(device.read("etc/wireguard/wg0.conf")).toBe(
            [
                "# The tunnel to the tenant's VPN server (wg-quick format); written by cdm-enroll.",
                "[Interface]",
                "Address = 10.8.0.2/32",
                `PrivateKey = ${wgKey}`,
                "",
                "[Peer]",
                `PublicKey = ${serverKey.publicKey}`,
                `Endpoint = ${net.server}:51820`,
                "AllowedIPs = 10.8.0.1/32",
                "PersistentKeepalive = 25",
                "",
            ].join("\n"),
        );
        // wg-quick parses it; what it hands to `wg setconf` is the rest.
        expect(
            execFileSync("wg-quick", ["strip", join(device.etc, "wireguard/wg0.conf")], { encoding: "utf8" }),
        ).toBe(`${device.read("etc/wireguard/wg0.conf").replace("Address = 10.8.0.2/32\n", "")}\n`);

        const target = await new HawkbitClient({ url: hawkbit.url, ...hawkbit.bridge }).getTarget(deviceId);
        expect(parseIni(device.read("etc/rauc-hawkbit-updater/config.conf"))).toEqual({
            client: {
                hawkbit_server: "ota.acme.test",
                ssl: "true",
                ssl_verify: "true",
                tenant_id: "DEFAULT",
                target_name: deviceId,
                auth_token: target!.securityToken,
                bundle_download_location: "/tmp/bundle.raucb",
            },
            device: { product: "cdm-device", serial: deviceId },
        });
        expect(parseEnvFile(device.read("etc/cdm/mqtt.conf"))).toEqual({
            MQTT_URL: "mqtts://things.acme.test:8883",
            MQTT_TOPIC: "v1/devices/me/telemetry",
            MQTT_CLIENT_ID: deviceId,
            MQTT_CERT_FILE: join(state, "fullchain.pem"),
            MQTT_KEY_FILE: join(state, "device.key"),
            MQTT_CA_FILE: join(state, "root-ca.pem"),
        });
        expect(parseEnvFile(device.read("etc/cdm/telegraf.env"))).toEqual({
            CDM_DEVICE_ID: deviceId,
            CDM_INFLUX_URL: "https://metrics.acme.test",
            CDM_INFLUX_ORG: "acme",
            CDM_INFLUX_BUCKET: "devices",
            CDM_INFLUX_TOKEN: "influx-device-write-token",
        });
        // The credential the terminal proxy is given for this device.
        const forProxy = await httpsJson(
            `${bridge.url}/devices/${deviceId}/wireguard`,
            peers.root.pem,
            "GET",
            undefined,
            { bearer: "t".repeat(40) },
        );
        expect(forProxy.status).toBe(200);
        expect(parseEnvFile(device.read("etc/cdm/ttyd.env"))).toEqual({
            TTYD_ADDRESS: "10.8.0.2",
            TTYD_PORT: "7681",
            TTYD_CREDENTIAL: `cdm-terminal:${forProxy.json.terminal.password}`,
        });
    });

    it("polls real hawkBit with the written updater config (DDI, target token)", async () => {
        const client = parseIni(device.read("etc/rauc-hawkbit-updater/config.conf")).client;
        // hawkBit runs plain HTTP on loopback here; the device would use https://<hawkbit_server>.
        const poll = await fetch(`${hawkbit.url}/${client.tenant_id}/controller/v1/${client.target_name}`, {
            headers: { authorization: `TargetToken ${client.auth_token}`, accept: "application/hal+json" },
        });
        expect(poll.status).toBe(200);
        const body = (await poll.json()) as { config: { polling: { sleep: string } } };
        expect(body.config.polling.sleep).toBe("00:00:30");
        const wrong = await fetch(`${hawkbit.url}/${client.tenant_id}/controller/v1/${client.target_name}`, {
            headers: { authorization: `TargetToken ${client.auth_token}x` },
        });
        expect(wrong.status).toBe(401);
    });

    it("does nothing on a second run: no bridge call, no file rewritten; restores a lost file from its record", async () => {
        // Through the counting proxy, so a call would show.
        device.writeConfig({ bridgeUrl: proxyUrl });
        proxy.script([]);
        const before = device.mtimes();
        const run = await device.run();
        expect(run.status, run.stderr).toBe(0);
        const notAfter = openssl(["x509", "-in", join(device.state, "device.crt"), "-noout", "-enddate"])
            .trim()
            .replace("notAfter=", "");
        expect(lines(run.stderr)).toEqual([
            `cdm-enroll: already enrolled as ${deviceId} (certificate valid until ${notAfter}); not calling the bridge`,
            "cdm-enroll: trust store: skipped (CDM_NO_TRUST_STORE=1)",
            "cdm-enroll: services: skipped (CDM_NO_SERVICES=1)",
        ]);
        expect(proxy.requests).toEqual([]);
        expect(device.mtimes()).toEqual(before);

        const ttydEnv = device.read("etc/cdm/ttyd.env");
        execFileSync("rm", [join(device.etc, "cdm/ttyd.env")]);
        const restore = await device.run();
        expect(restore.status, restore.stderr).toBe(0);
        expect(lines(restore.stderr).at(-1)).toBe("cdm-enroll: configured: cdm/ttyd.env");
        expect(device.read("etc/cdm/ttyd.env")).toBe(ttydEnv);
        expect(device.tree()).toEqual(enrolledTree);
        expect(proxy.requests).toEqual([]);
        device.writeConfig({ bridgeUrl: bridge.url });
    });

    it("brings WireGuard up itself in a device namespace: handshake with the server, ttyd reached over the tunnel", async () => {
        // In the device's namespace the bridge (on the host's loopback) is out of reach: the run
        // must not need it. It writes the config under this test's interface name (wireguard-go's
        // control socket is host-wide) and brings it up with wg-quick (userspace fallback).
        const env = {
            CDM_NO_SERVICES: "0",
            CDM_NO_SYSTEMD: "1",
            CDM_WG_INTERFACE: deviceIf,
            CDM_MAX_ATTEMPTS: "1",
        };
        const run = await device.run([], env, dev.name);
        expect(run.status, run.stderr).toBe(0);
        expect(lines(run.stderr).slice(-3)).toEqual([
            `cdm-enroll: WireGuard: ${deviceIf} up (wg-quick)`,
            "cdm-enroll: services: no systemd; start rauc-hawkbit-updater, telegraf, the MQTT publisher and ttyd from your init",
            `cdm-enroll: configured: wireguard/${deviceIf}.conf`,
        ]);
        expect(device.read(`etc/wireguard/${deviceIf}.conf`)).toBe(device.read("etc/wireguard/wg0.conf"));
        expect(dev.exec("ip", "-4", "-o", "address", "show", "dev", deviceIf)).toContain("inet 10.8.0.2/32");
        expect(dev.exec("ip", "route", "show", "dev", deviceIf)).toBe("10.8.0.1 scope link \n");

        // The peer agent adds the device at the server from the bridge's feed.
        const wg = new WireguardInterface(serverIf, ["ip", "netns", "exec", srv.name, "wg"]);
        const publicKey = device.read("state/wireguard.pub").trim();
        await expect
            .poll(async () => (await wg.peers()).get(publicKey), { timeout: 30_000 })
            .toBe("10.8.0.2/32");

        const ttydEnv = parseEnvFile(device.read("etc/cdm/ttyd.env"));
        ttyd = await startTtydPeer({
            netns: dev.name,
            interfaceAddress: ttydEnv.TTYD_ADDRESS,
            port: Number(ttydEnv.TTYD_PORT),
            credential: ttydEnv.TTYD_CREDENTIAL,
        });
        const status = (...auth: string[]) =>
            srv
                .exec(
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "3",
                    ...auth,
                    `http://10.8.0.2:7681/`,
                )
                .trim();
        const withCredential = () => {
            try {
                return status("-u", ttydEnv.TTYD_CREDENTIAL);
            } catch {
                return "unreachable";
            }
        };
        await expect.poll(withCredential, { timeout: 20_000, interval: 500 }).toBe("200");
        expect(status()).toBe("401");
        const handshake = Number(
            dev.exec("wg", "show", deviceIf, "latest-handshakes").trim().split(/\s+/)[1],
        );
        expect(handshake).toBeGreaterThan(0);
        // Devices reach nothing over the VPN (the pod's filter): only the pod reaches them.
        expect(
            dev.status("curl", "-s", "-o", "/dev/null", "--max-time", "2", "http://10.8.0.1:7681/"),
        ).not.toBe(0);
    });

    it("brings it up with ip and wg where wg-quick is not used", async () => {
        dev.exec("ip", "link", "delete", deviceIf);
        const run = await device.run(
            [],
            {
                CDM_NO_SERVICES: "0",
                CDM_NO_SYSTEMD: "1",
                CDM_WG_INTERFACE: deviceIf,
                CDM_WG_QUICK: "0",
                CDM_MAX_ATTEMPTS: "1",
            },
            dev.name,
        );
        expect(run.status, run.stderr).toBe(0);
        expect(lines(run.stderr)).toContain(`cdm-enroll: WireGuard: ${deviceIf} up (ip and wg)`);
        expect(dev.exec("ip", "route", "show", "dev", deviceIf)).toBe("10.8.0.1 scope link \n");
        await expect
            .poll(
                () => {
                    try {
                        return srv
                            .exec(
                                "curl",
                                "-s",
                                "-o",
                                "/dev/null",
                                "-w",
                                "%{http_code}",
                                "--max-time",
                                "3",
                                "-u",
                                parseEnvFile(device.read("etc/cdm/ttyd.env")).TTYD_CREDENTIAL,
                                "http://10.8.0.2:7681/",
                            )
                            .trim();
                    } catch {
                        return "unreachable";
                    }
                },
                { timeout: 20_000, interval: 500 },
            )
            .toBe("200");
        // A run with the tunnel up leaves it alone.
        const again = await device.run(
            [],
            { CDM_NO_SERVICES: "0", CDM_NO_SYSTEMD: "1", CDM_WG_INTERFACE: deviceIf, CDM_MAX_ATTEMPTS: "1" },
            dev.name,
        );
        expect(again.status, again.stderr).toBe(0);
        expect(again.stderr).not.toContain("WireGuard:");
    });

    it("renews over mutual TLS when due, with the same key; not before", async () => {
        const { state } = device;
        const [old] = certificates(device.read("state/device.crt"));
        const key = device.read("state/device.key");
        // Not due (a third of the lifetime is the default): no call, even through the proxy.
        device.writeConfig({ bridgeUrl: proxyUrl });
        proxy.script([]);
        const early = await device.run(["renew"]);
        expect(early.status, early.stderr).toBe(0);
        const lifetime = (old.notAfter.getTime() - old.notBefore.getTime()) / 1000;
        const notAfter = openssl(["x509", "-in", join(state, "device.crt"), "-noout", "-enddate"])
            .trim()
            .replace("notAfter=", "");
        expect(early.stderr).toBe(
            `cdm-enroll: renewal not due: the certificate is valid until ${notAfter}, and renews within ${Math.floor(lifetime / 3)}s of that\n`,
        );
        expect(proxy.requests).toEqual([]);

        device.writeConfig({ bridgeUrl: bridge.url });
        const run = await device.run(["renew"], { CDM_RENEW_BEFORE_DAYS: "3650" });
        expect(run.status, run.stderr).toBe(0);
        expect(lines(run.stderr)).toContain("cdm-enroll: renewal: the bridge answered HTTP 200 (attempt 1)");
        const [renewed] = certificates(device.read("state/device.crt"));
        expect(renewed.serialNumber).not.toBe(old.serialNumber);
        expect(renewed.subject).toBe(`CN=${deviceId}`);
        expect(device.read("state/device.key")).toBe(key);
        expect(openssl(["x509", "-in", join(state, "device.crt"), "-noout", "-pubkey"])).toBe(
            openssl(["pkey", "-in", join(state, "device.key"), "-pubout"]),
        );
        expect(
            openssl([
                "verify",
                "-no-CApath",
                "-CAfile",
                join(state, "root-ca.pem"),
                "-untrusted",
                join(state, "chain.pem"),
                join(state, "device.crt"),
            ]),
        ).toBe(`${join(state, "device.crt")}: OK\n`);
        expect((await bridgeDevice(deviceId)).certificateSerial).toBe(renewed.serialNumber.toLowerCase());
        const record = JSON.parse(device.read("state/enrollment.json"));
        expect(record.certificate_pem.trim()).toBe(device.read("state/device.crt").trim());
        expect(device.read("state/fullchain.pem")).toBe(
            device.read("state/device.crt") + device.read("state/chain.pem"),
        );
        expect(device.tree()).toEqual({ ...enrolledTree, [`etc/wireguard/${deviceIf}.conf`]: "600" });
    });

    it("stops on a used token with the bridge's message (exit 3), leaving only its keys", async () => {
        // A reflashed unit (new keys) holding the token its first life used.
        const reflashed = deviceRoot("reflashed", deviceId, bridge.url);
        reflashed.writeToken(deviceToken);
        const run = await reflashed.run();
        expect(run.status).toBe(3);
        expect(lines(run.stderr).at(-1)).toBe(
            "cdm-enroll: enrollment refused by the bridge (HTTP 401: enrollment_token_refused: " +
                "enrollment token refused: used up); not retrying",
        );
        expect(reflashed.tree()).toEqual(refusedTree);
    });

    it("re-enrolls with a reenroll token when its record is lost, keeping its keys and address", async () => {
        const keys = ["state/device.key", "state/wireguard.key"].map((p) => device.read(p));
        const before = parseIni(device.read("etc/rauc-hawkbit-updater/config.conf")).client.auth_token;
        rmSync(join(device.state, "enrollment.json"));
        const { token } = await issueToken(pgDatabase(pool), {
            deviceId,
            reenroll: true,
            ttlSeconds: 900,
            createdBy: "test",
        });
        device.writeToken(token);
        const run = await device.run();
        expect(run.status, run.stderr).toBe(0);
        expect(lines(run.stderr).slice(0, 2)).toEqual([
            `cdm-enroll: enrolling ${deviceId} at ${bridge.url}`,
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 1)",
        ]);
        const record = JSON.parse(device.read("state/enrollment.json"));
        expect([record.reenrolled, record.wireguard.address]).toEqual([true, "10.8.0.2/32"]);
        expect(["state/device.key", "state/wireguard.key"].map((p) => device.read(p))).toEqual(keys);
        // The unit it replaces loses its target token: the new one is hawkBit's.
        const after = parseIni(device.read("etc/rauc-hawkbit-updater/config.conf")).client.auth_token;
        const target = await new HawkbitClient({ url: hawkbit.url, ...hawkbit.bridge }).getTarget(deviceId);
        expect(after).not.toBe(before);
        expect(after).toBe(target!.securityToken);
        expect(device.tree()).toEqual({ ...enrolledTree, [`etc/wireguard/${deviceIf}.conf`]: "600" });
    });
});

describe("a misbehaving server (test-only fault injection in front of the real bridge)", () => {
    /** A full-shaped answer for device `id` (the main device's, so its certificate is not `id`'s key's). */
    function fakeAnswer(id: string, change: (a: any) => void = () => undefined): string {
        const answer = JSON.parse(device.read("state/enrollment.json"));
        answer.device_id = id;
        answer.hawkbit.controller_id = id;
        change(answer);
        return JSON.stringify(answer);
    }

    it("retries 500, truncated JSON, a wrongly typed field and a certificate for another key; then enrolls", async () => {
        const id = `dev-faults-${tag}`;
        const faulty = deviceRoot("faults", id, proxyUrl);
        const token = await enrollmentToken(id);
        faulty.writeToken(token);
        proxy.script([
            { status: 500, body: '{"error":"internal","message":"boom"}' },
            { status: 201, body: fakeAnswer(id).slice(0, 300) },
            { status: 201, body: fakeAnswer(id, (a) => (a.wireguard.persistent_keepalive = "25")) },
            { status: 201, body: fakeAnswer(id) },
        ]);
        const run = await faulty.run();
        expect(run.status, run.stderr).toBe(0);
        const log = lines(run.stderr);
        expect(log.filter((l) => l.includes("attempt"))).toEqual([
            "cdm-enroll: enrollment: attempt 1 failed: HTTP 500: internal: boom; retrying in Ns",
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 2 failed: HTTP 201 with a malformed answer: not one JSON object \(truncated\?\): parse error: Unfinished .* at EOF at line 1, column 300; retrying in Ns$/,
            ),
            "cdm-enroll: enrollment: attempt 3 failed: HTTP 201 with a malformed answer: missing or invalid: wireguard.persistent_keepalive; retrying in Ns",
            "cdm-enroll: enrollment: attempt 4 failed: HTTP 201 with a malformed answer: the certificate is not for the device key; retrying in Ns",
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 5)",
        ]);
        expect(proxy.requests.map((r) => r.fault === "forward")).toEqual([false, false, false, false, true]);
        // Every attempt sent the same request: the same key, token and WireGuard key.
        const bodies = proxy.requests.map((r) => JSON.stringify(r.body));
        expect(new Set(bodies).size).toBe(1);
        const request = proxy.requests[0].body;
        expect(Object.keys(request).sort()).toEqual(["csr_pem", "enrollment_token", "wireguard_public_key"]);
        expect(request.enrollment_token).toBe(token);
        expect(request.wireguard_public_key).toBe(faulty.read("state/wireguard.pub").trim());
        // The request: CN = the device id, no names or other extensions, the device key's public half.
        expect(openssl(["req", "-noout", "-subject", "-nameopt", "RFC2253"], request.csr_pem)).toBe(
            `subject=CN=${id}\n`,
        );
        const csr = new x509.Pkcs10CertificateRequest(request.csr_pem);
        expect([csr.subject, csr.extensions.length, csr.attributes.length]).toEqual([`CN=${id}`, 0, 0]);
        expect(openssl(["req", "-noout", "-pubkey"], request.csr_pem)).toBe(
            openssl(["pkey", "-in", join(faulty.state, "device.key"), "-pubout"]),
        );
        expect(faulty.tree()).toEqual(enrolledTree);
        expect((await bridgeDevice(id)).id).toBe(id);
    });

    it("retries a timeout, a cut connection, 429 (after its Retry-After) and 503; then enrolls", async () => {
        const id = `dev-timeouts-${tag}`;
        const faulty = deviceRoot("timeouts", id, proxyUrl);
        faulty.writeToken(await enrollmentToken(id));
        proxy.script([
            "hang",
            "cut",
            { status: 429, headers: { "retry-after": "2" }, body: '{"error":"busy","message":"slow down"}' },
            { status: 503, body: '{"error":"peer_unavailable","message":"step-ca is unreachable"}' },
        ]);
        const run = await faulty.run([], { CDM_HTTP_TIMEOUT: "3" });
        expect(run.status, run.stderr).toBe(0);
        const log = run.stderr
            .trimEnd()
            .split("\n")
            .filter((l) => l.includes("attempt"));
        expect(log).toEqual([
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 1 failed: curl: \(28\) Operation timed out after 300\d milliseconds with 0 bytes received \(curl exit 28\); retrying in [12]s$/,
            ),
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 2 failed: curl: \(18\) transfer closed with \d+ bytes remaining to read \(curl exit 18\); retrying in [12]s$/,
            ),
            "cdm-enroll: enrollment: attempt 3 failed: HTTP 429: busy: slow down; retrying in 2s",
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 4 failed: HTTP 503: peer_unavailable: step-ca is unreachable; retrying in [12]s$/,
            ),
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 5)",
        ]);
        expect(proxy.requests).toHaveLength(5);
        expect(faulty.tree()).toEqual(enrolledTree);
    });

    it("stops on 403 with the server's message (exit 3) and leaves nothing half-written; gives up after CDM_MAX_ATTEMPTS (exit 1)", async () => {
        const id = `dev-refused-${tag}`;
        const refused = deviceRoot("refused", id, proxyUrl);
        const token = await enrollmentToken(id);
        refused.writeToken(token);
        proxy.script([
            { status: 403, body: '{"error":"forbidden","message":"this device may not enroll here"}' },
        ]);
        const run = await refused.run();
        expect(run.status).toBe(3);
        expect(lines(run.stderr).slice(-2)).toEqual([
            `cdm-enroll: enrolling ${id} at ${proxyUrl}`,
            "cdm-enroll: enrollment refused by the bridge (HTTP 403: forbidden: this device may not enroll here); not retrying",
        ]);
        expect(proxy.requests).toHaveLength(1);
        expect(refused.tree()).toEqual(refusedTree);
        expect(readFileSync(refused.tokenFile, "utf8")).toBe(`${token}\n`);
        const keys = ["state/device.key", "state/wireguard.key"].map((p) => refused.read(p));

        proxy.script([
            { status: 502, body: '{"error":"peer_refused","message":"step-ca refused"}' },
            { status: 500, body: "<html>oops</html>" },
        ]);
        const gaveUp = await refused.run([], { CDM_MAX_ATTEMPTS: "2" });
        expect(gaveUp.status).toBe(1);
        expect(lines(gaveUp.stderr).slice(-2)).toEqual([
            "cdm-enroll: enrollment: attempt 1 failed: HTTP 502: peer_refused: step-ca refused; retrying in Ns",
            "cdm-enroll: enrollment: giving up after 2 attempts; the last: HTTP 500",
        ]);
        expect(refused.tree()).toEqual(refusedTree);
        // The keys were made once and kept for the next attempt.
        expect(["state/device.key", "state/wireguard.key"].map((p) => refused.read(p))).toEqual(keys);
    });
});
