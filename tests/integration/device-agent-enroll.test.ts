/**
 * The device enrollment agent (device-image/rootfs/usr/sbin/cdm-enroll with its libraries in
 * usr/lib/cdm, POSIX sh) run for real against the tenant bridge as a process on real PostgreSQL,
 * step-ca and hawkBit: shellcheck, dash and busybox accept every file; a bad configuration is
 * refused; it enrolls with keys it made itself and writes exactly the files and modes it should;
 * the certificate verifies to the root; its updater config polls real hawkBit; a second run calls
 * nobody. The tunnel, renewal and re-enrollment are device-agent-tunnel.test.ts's, refusals and
 * faults device-agent-faults.test.ts's.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpsJson } from "../support/bridge-process";
import {
    agentScript,
    agentShellFiles,
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

const deviceId = `dev-agent-${randomBytes(3).toString("hex")}`;
/** Where the bridge tells devices their VPN server is (the tunnel itself is device-agent-tunnel's). */
const vpnEndpoint = "vpn.acme.test:51820";

let agent: AgentBridge;
/** The device the tests after enrollment work on. */
let device: DeviceRoot;

beforeAll(async () => {
    agent = await startAgentBridge({ vpnEndpoint });
}, 300_000);

afterAll(async () => {
    await agent?.close();
});

describe("the enrollment agent against the real bridge", () => {
    it("is POSIX sh: shellcheck -s sh is clean, dash and busybox parse the script and every library", () => {
        const files = agentShellFiles();
        // The script sources every library; shellcheck, given them all, follows what it sources.
        const sourced = [
            ...readFileSync(agentScript, "utf8").matchAll(/^\. "\$LIB_DIR\/([a-z]+\.sh)"$/gm),
        ].map((m) => m[1]);
        expect(sourced.sort()).toEqual(files.slice(1).map((f) => basename(f)));
        const check = spawnSync("shellcheck", ["-s", "sh", ...files], { encoding: "utf8" });
        expect(check.stdout + check.stderr).toBe("");
        expect(check.status).toBe(0);
        const busybox = existsSync("/usr/bin/busybox") || existsSync("/bin/busybox");
        for (const file of files) {
            expect(spawnSync("dash", ["-n", file]).status, file).toBe(0);
            if (busybox) expect(spawnSync("busybox", ["sh", "-n", file]).status, file).toBe(0);
        }
    });

    it("refuses a bad configuration before touching anything (exit 2)", async () => {
        const bad = agent.deviceRoot("bad-config", "Dev_1", "http://localhost:1");
        const url = await bad.run();
        expect([url.status, url.stderr]).toEqual([
            2,
            "cdm-enroll: BRIDGE_URL must be an https:// URL, not http://localhost:1\n",
        ]);
        bad.writeConfig({ bridgeUrl: agent.bridge.url });
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
        // Its libraries are where CDM_LIB_DIR says (by default ../lib/cdm beside the script).
        const nowhere = join(bad.root, "no-lib");
        const noLib = await bad.run([], { CDM_LIB_DIR: nowhere });
        expect([noLib.status, noLib.stderr]).toEqual([
            2,
            `cdm-enroll: its libraries are not in ${nowhere} (see CDM_LIB_DIR)\n`,
        ]);
    });

    it("enrolls: keys made on the device, exact files and modes, a certificate that verifies to the root", async () => {
        device = agent.deviceRoot("main", deviceId, agent.bridge.url);
        device.writeToken(await agent.enrollmentToken(deviceId));
        const run = await device.run();
        expect(run.status, run.stderr).toBe(0);
        const record = JSON.parse(device.read("state/enrollment.json"));
        const { state } = device;
        expect(lines(run.stderr)).toEqual([
            `cdm-enroll: made the device key (EC P-256) in ${state}/device.key`,
            `cdm-enroll: made the WireGuard key in ${state}/wireguard.key`,
            `cdm-enroll: enrolling ${deviceId} at ${agent.bridge.url}`,
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
        expect(cert.issuer).toBe(agent.pki.subCa.cert.subject);
        expect(certificates(device.read("state/chain.pem")).map((c) => c.subject)).toEqual([
            agent.pki.subCa.cert.subject,
            agent.pki.ica.cert.subject,
        ]);
        expect(verifyDeviceCertificate(state)).toBe(`${join(state, "device.crt")}: OK\n`);
        expect(device.read("state/root-ca.pem").trim()).toBe(agent.pki.root.pem.trim());
        expect(device.read("state/fullchain.pem")).toBe(
            device.read("state/device.crt") + device.read("state/chain.pem"),
        );
        const view = await agent.bridgeDevice(deviceId);
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
                `PublicKey = ${agent.vpnKey.publicKey}`,
                `Endpoint = ${vpnEndpoint}`,
                "AllowedIPs = 10.8.0.1/32",
                "PersistentKeepalive = 25",
                "",
            ].join("\n"),
        );
        // wg-quick parses it; what it hands to `wg setconf` is the rest.
        expect(
            execFileSync("wg-quick", ["strip", join(device.etc, "wireguard/wg0.conf")], { encoding: "utf8" }),
        ).toBe(`${device.read("etc/wireguard/wg0.conf").replace("Address = 10.8.0.2/32\n", "")}\n`);

        const target = await agent.hawkbitTarget(deviceId);
        expect(parseIni(device.read("etc/rauc-hawkbit-updater/config.conf"))).toEqual({
            client: {
                hawkbit_server: "ota.acme.test",
                ssl: "true",
                ssl_verify: "true",
                tenant_id: "DEFAULT",
                target_name: deviceId,
                auth_token: target!.securityToken,
                bundle_download_location: "/tmp/bundle.raucb",
                post_update_reboot: "true",
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
            `${agent.bridge.url}/devices/${deviceId}/wireguard`,
            agent.pki.root.pem,
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
        const poll = await fetch(
            `${agent.hawkbit.url}/${client.tenant_id}/controller/v1/${client.target_name}`,
            {
                headers: {
                    authorization: `TargetToken ${client.auth_token}`,
                    accept: "application/hal+json",
                },
            },
        );
        expect(poll.status).toBe(200);
        const body = (await poll.json()) as { config: { polling: { sleep: string } } };
        expect(body.config.polling.sleep).toBe("00:00:30");
        const wrong = await fetch(
            `${agent.hawkbit.url}/${client.tenant_id}/controller/v1/${client.target_name}`,
            {
                headers: { authorization: `TargetToken ${client.auth_token}x` },
            },
        );
        expect(wrong.status).toBe(401);
    });

    it("does nothing on a second run: no bridge call, no file rewritten; restores a lost file from its record", async () => {
        // Through the counting proxy, so a call would show.
        device.writeConfig({ bridgeUrl: agent.proxyUrl });
        agent.proxy.script([]);
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
        expect(agent.proxy.requests).toEqual([]);
        expect(device.mtimes()).toEqual(before);

        const ttydEnv = device.read("etc/cdm/ttyd.env");
        execFileSync("rm", [join(device.etc, "cdm/ttyd.env")]);
        const restore = await device.run();
        expect(restore.status, restore.stderr).toBe(0);
        expect(lines(restore.stderr).at(-1)).toBe("cdm-enroll: configured: cdm/ttyd.env");
        expect(device.read("etc/cdm/ttyd.env")).toBe(ttydEnv);
        expect(device.tree()).toEqual(enrolledTree);

        // An image with upstream's rauc-hawkbit user: the updater's config is readable by its group.
        const updaterConf = join(device.etc, "rauc-hawkbit-updater/config.conf");
        const daemonGid = Number(/^daemon:[^:]*:(\d+):/m.exec(readFileSync("/etc/group", "utf8"))![1]);
        execFileSync("rm", [updaterConf]);
        const grouped = await device.run([], { CDM_UPDATER_GROUP: "daemon" });
        expect(grouped.status, grouped.stderr).toBe(0);
        const conf = statSync(updaterConf);
        expect([(conf.mode & 0o777).toString(8), conf.gid, conf.uid]).toEqual(["640", daemonGid, 0]);
        expect(agent.proxy.requests).toEqual([]);
        device.writeConfig({ bridgeUrl: agent.bridge.url });
    });
});
