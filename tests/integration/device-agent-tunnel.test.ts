/**
 * The device enrollment agent (device-image/rootfs/usr/sbin/cdm-enroll) after enrollment, for
 * real: enrolled through the tenant bridge (a process on real PostgreSQL, step-ca and hawkBit),
 * it brings its WireGuard config up itself in a device network namespace, with wg-quick and then
 * with ip and wg, and reaches the VPN server (the VPN image's entrypoint in a server namespace,
 * its peer added live by the real peer-sync agent), where ttyd with the written credential
 * answers over the tunnel; renewal over mutual TLS keeps the key; a unit that lost its record
 * re-enrolls with a reenroll token. Needs root (network namespaces).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wireguardFirewall } from "../../components/wireguard/firewall";
import { PeerAgent } from "../../runtime/peer-agent/agent";
import { WireguardInterface } from "../../runtime/peer-agent/wireguard";
import {
    certificates,
    DeviceRoot,
    enrolledTree,
    lines,
    openssl,
    verifyDeviceCertificate,
    parseEnvFile,
    parseIni,
} from "../support/device-agent";
import { AgentBridge, startAgentBridge } from "../support/device-agent-peers";
import { asProxy, link, Namespace, proxyUid } from "../support/netns";
import { startTtydPeer, TtydPeer } from "../support/ttyd-peer";
import { agentWg, ServerContainer, startServerContainer } from "../support/vpn-pod";

const tag = randomBytes(3).toString("hex");
const deviceId = `dev-agent-${tag}`;
/** The link between the device and server namespaces; the server's end is the VPN endpoint. */
const net = { server: "192.168.90.1", device: "192.168.90.2" };
const serverIf = `was${tag}`;
const deviceIf = `wad${tag}`;
const firewallFile = join(tmpdir(), `agent-firewall-${tag}`);
const quiet = { info: () => undefined, warn: () => undefined };

let agent: AgentBridge;
let srv: Namespace;
let dev: Namespace;
let server: ServerContainer;
let ttyd: TtydPeer | undefined;
const stopPeerAgent = new AbortController();
/** The device every test works on, enrolled before them. */
let device: DeviceRoot;

beforeAll(async () => {
    // Devices are told the server namespace's end of their link.
    agent = await startAgentBridge({ vpnEndpoint: `${net.server}:51820` });
    ({ device } = await agent.enrolledDevice("main", deviceId));

    srv = new Namespace(`cdm-asrv-${tag}`);
    dev = new Namespace(`cdm-adev-${tag}`);
    link(srv, `${net.server}/24`, dev, `${net.device}/24`, `va${tag}`);
    writeFileSync(firewallFile, wireguardFirewall(serverIf, 7681, proxyUid));
    server = await startServerContainer(srv, {
        iface: serverIf,
        keyFile: agent.vpnKey.file,
        firewallFile,
        cidr: { network: "10.8.0.0", prefixLength: 16 },
        port: 51820,
    });
    const peerAgent = new PeerAgent({
        bridgeUrl: `https://127.0.0.1:${agent.ports.api}`,
        serverName: "localhost",
        token: "p".repeat(40),
        caPem: agent.pki.root.pem,
        wireguard: new WireguardInterface(serverIf, agentWg(srv)),
        waitSeconds: 20,
        log: quiet,
    });
    void peerAgent.run(stopPeerAgent.signal);
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
    await agent?.close();
    rmSync(firewallFile, { force: true });
});

/** The HTTP status of the device's ttyd (10.8.0.2:7681) from the server's namespace as the proxy's user, or "unreachable". */
function ttydStatus(srv: Namespace, auth: string[]): string {
    try {
        return srv
            .exec(
                ...asProxy,
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "3",
                ...auth,
                "http://10.8.0.2:7681/",
            )
            .trim();
    } catch {
        return "unreachable";
    }
}

describe("the enrolled agent: its tunnel, renewal and re-enrollment", () => {
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
        const status = (...auth: string[]) => ttydStatus(srv, auth);
        const withCredential = () => ttydStatus(srv, ["-u", ttydEnv.TTYD_CREDENTIAL]);
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
                () => ttydStatus(srv, ["-u", parseEnvFile(device.read("etc/cdm/ttyd.env")).TTYD_CREDENTIAL]),
                {
                    timeout: 20_000,
                    interval: 500,
                },
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
        device.writeConfig({ bridgeUrl: agent.proxyUrl });
        agent.proxy.script([]);
        const early = await device.run(["renew"]);
        expect(early.status, early.stderr).toBe(0);
        const lifetime = (old.notAfter.getTime() - old.notBefore.getTime()) / 1000;
        const notAfter = openssl(["x509", "-in", join(state, "device.crt"), "-noout", "-enddate"])
            .trim()
            .replace("notAfter=", "");
        expect(early.stderr).toBe(
            `cdm-enroll: renewal not due: the certificate is valid until ${notAfter}, and renews within ${Math.floor(lifetime / 3)}s of that\n`,
        );
        expect(agent.proxy.requests).toEqual([]);

        device.writeConfig({ bridgeUrl: agent.bridge.url });
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
        expect(verifyDeviceCertificate(state)).toBe(`${join(state, "device.crt")}: OK\n`);
        expect((await agent.bridgeDevice(deviceId)).certificateSerial).toBe(
            renewed.serialNumber.toLowerCase(),
        );
        const record = JSON.parse(device.read("state/enrollment.json"));
        expect(record.certificate_pem.trim()).toBe(device.read("state/device.crt").trim());
        expect(device.read("state/fullchain.pem")).toBe(
            device.read("state/device.crt") + device.read("state/chain.pem"),
        );
        expect(device.tree()).toEqual({ ...enrolledTree, [`etc/wireguard/${deviceIf}.conf`]: "600" });
    });

    it("re-enrolls with a reenroll token when its record is lost, keeping its keys and address", async () => {
        const keys = ["state/device.key", "state/wireguard.key"].map((p) => device.read(p));
        const before = parseIni(device.read("etc/rauc-hawkbit-updater/config.conf")).client.auth_token;
        rmSync(join(device.state, "enrollment.json"));
        const token = await agent.enrollmentToken(deviceId, { reenroll: true });
        device.writeToken(token);
        const run = await device.run();
        expect(run.status, run.stderr).toBe(0);
        expect(lines(run.stderr).slice(0, 2)).toEqual([
            `cdm-enroll: enrolling ${deviceId} at ${agent.bridge.url}`,
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 1)",
        ]);
        const record = JSON.parse(device.read("state/enrollment.json"));
        expect([record.reenrolled, record.wireguard.address]).toEqual([true, "10.8.0.2/32"]);
        expect(["state/device.key", "state/wireguard.key"].map((p) => device.read(p))).toEqual(keys);
        // The unit it replaces loses its target token: the new one is hawkBit's.
        const after = parseIni(device.read("etc/rauc-hawkbit-updater/config.conf")).client.auth_token;
        const target = await agent.hawkbitTarget(deviceId);
        expect(after).not.toBe(before);
        expect(after).toBe(target!.securityToken);
        expect(device.tree()).toEqual({ ...enrolledTree, [`etc/wireguard/${deviceIf}.conf`]: "600" });
    });
});
