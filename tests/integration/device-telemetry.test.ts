/**
 * The device's MQTT state publisher (device-image/rootfs/usr/sbin/cdm-telemetry, POSIX sh with
 * mosquitto_pub) after a real enrollment: the agent enrolls at the tenant bridge (real
 * PostgreSQL, step-ca and hawkBit, as device-agent-enroll.test.ts), then `cdm-telemetry --once`
 * with the mqtt.conf the agent wrote publishes over mutual TLS to the Mosquitto stand-in for the
 * tenant's ThingsBoard (server certificate from the tenant's Sub-CA, client certificates anchored
 * at it), and a subscriber receives exactly the spec's message. It refuses a broker the platform
 * root does not vouch for, and bad settings.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { intermediateProfile, rootProfile } from "../../components/pki/profile";
import { DeviceRoot } from "../support/device-agent";
import { AgentBridge, startAgentBridge } from "../support/device-agent-peers";
import {
    mosquittoBinary,
    mqttConnect,
    RunningBroker,
    startMosquitto,
    subCaTrustAnchor,
    subscription,
} from "../support/mosquitto";
import { freePort } from "../support/peers";
import { intermediateCa, localhostTls, rootCa } from "../support/pki";
import { projectRoot } from "../../tools/stack-config";

const publisher = join(projectRoot, "device-image/rootfs/usr/sbin/cdm-telemetry");
const topic = "v1/devices/me/telemetry";
const deviceId = `dev-tele-${randomBytes(3).toString("hex")}`;

let agent: AgentBridge;
let broker: RunningBroker;
let device: DeviceRoot;
let listener: MqttClient;

/** Runs `sh cdm-telemetry <args>` for the device, with the image's paths moved under its root. */
function runPublisher(args: string[], env: Record<string, string> = {}) {
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn("sh", [publisher, ...args], {
            env: {
                PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
                CDM_MQTT_CONF: join(device.etc, "cdm/mqtt.conf"),
                CDM_OTA_STATUS_FILE: join(device.root, "ota-status"),
                CDM_OS_RELEASE: join(device.root, "os-release"),
                // The test machine has no RAUC system: the fallbacks are what is checked here.
                CDM_RAUC: join(device.root, "no-rauc"),
                ...env,
            },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        child.on("error", reject);
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
    });
}

beforeAll(async () => {
    mosquittoBinary();
    const port = await freePort();
    agent = await startAgentBridge({ mqttUrl: `mqtts://localhost:${port}` });
    // ThingsBoard's MQTTS certificate is the tenant Sub-CA's, served with its chain.
    const server = await localhostTls(agent.pki.subCa);
    broker = await startMosquitto(
        {
            serverChainPem: server.certPem + agent.pki.ica.pem,
            serverKeyPem: server.keyPem,
            clientCaPem: await subCaTrustAnchor(agent.pki.subCa),
        },
        { plain: true, tlsPort: port },
    );
    device = (await agent.enrolledDevice("telemetry", deviceId)).device;
    writeFileSync(join(device.root, "os-release"), 'NAME="CDM device"\nVERSION_ID="1.4.2"\n');
    listener = (await mqttConnect(broker.plainUrl!)).client!;
}, 300_000);

afterAll(async () => {
    await listener?.endAsync(true);
    await broker?.stop();
    await agent?.close();
});

describe("the MQTT state publisher", () => {
    it("is POSIX sh: shellcheck -s sh is clean, dash and busybox parse it", () => {
        const check = spawnSync("shellcheck", ["-s", "sh", publisher], { encoding: "utf8" });
        expect(check.stdout + check.stderr).toBe("");
        expect(check.status).toBe(0);
        expect(spawnSync("dash", ["-n", publisher]).status).toBe(0);
        if (existsSync("/usr/bin/busybox") || existsSync("/bin/busybox")) {
            expect(spawnSync("busybox", ["sh", "-n", publisher]).status).toBe(0);
        }
    });

    it("publishes the spec's message with the enrolled device's mqtt.conf over mutual TLS", async () => {
        const received = await subscription(listener, topic);
        const run = await runPublisher(["--once"]);
        expect([run.status, run.stderr]).toEqual([0, ""]);
        const message = await received.next();
        expect(message).toEqual({ topic, payload: run.stdout.trim() });

        // Exactly the spec's fields, in its order, of its types.
        const body = JSON.parse(message.payload);
        expect(Object.keys(body)).toEqual([
            "cpu_usage",
            "mem_free_mb",
            "sw_version",
            "rauc_slot",
            "ota_status",
        ]);
        expect(typeof body.cpu_usage).toBe("number");
        expect(body.cpu_usage).toBeGreaterThanOrEqual(0);
        expect(body.cpu_usage).toBeLessThanOrEqual(100);
        expect(Math.round(body.cpu_usage * 10)).toBeCloseTo(body.cpu_usage * 10, 6);
        expect(Number.isInteger(body.mem_free_mb)).toBe(true);
        const memTotalMb =
            Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 1024;
        expect(body.mem_free_mb).toBeGreaterThan(0);
        expect(body.mem_free_mb).toBeLessThanOrEqual(memTotalMb);
        expect(body).toMatchObject({ sw_version: "1.4.2", rauc_slot: "none", ota_status: "idle" });

        // An installed update not yet confirmed: the slot it replaces and that slot's version.
        const pending = join(device.root, "pending");
        writeFileSync(pending, "slot=rootfs.1\nbootname=B\nfrom=A\nfrom_version=1.4.1\naction=7\n");
        try {
            const unconfirmed = await runPublisher(["--once"]);
            expect(JSON.parse(unconfirmed.stdout)).toMatchObject({ sw_version: "1.4.1", rauc_slot: "A" });
        } finally {
            rmSync(pending);
        }
        expect(JSON.parse((await runPublisher(["--once"])).stdout)).toMatchObject({
            sw_version: "1.4.2",
            rauc_slot: "none",
        });

        // The broker took the device by its certificate: its CN, the device id, is the username.
        const connected = new RegExp(`New client connected from \\S+ as ${deviceId} \\(.*u'${deviceId}'\\)`);
        expect(await broker.logged(connected)).toBe(true);
    });

    it("reports the OTA hooks' status word, and 'unknown' for anything else in that file", async () => {
        const received = await subscription(listener, topic);
        writeFileSync(join(device.root, "ota-status"), "installing\n");
        expect((await runPublisher(["--once"])).status).toBe(0);
        expect(JSON.parse((await received.next()).payload).ota_status).toBe("installing");
        writeFileSync(join(device.root, "ota-status"), "Installing; rm -rf /\n");
        expect((await runPublisher(["--once"])).status).toBe(0);
        expect(JSON.parse((await received.next()).payload).ota_status).toBe("unknown");
    });

    it("sends nothing to a broker the platform root does not vouch for (exit 1)", async () => {
        const otherRoot = await rootCa(rootProfile);
        const server = await localhostTls(await intermediateCa(intermediateProfile, otherRoot));
        const impostor = await startMosquitto(
            {
                serverChainPem: server.certPem,
                serverKeyPem: server.keyPem,
                clientCaPem: await subCaTrustAnchor(agent.pki.subCa),
            },
            { plain: true },
        );
        try {
            const watcher = (await mqttConnect(impostor.plainUrl!)).client!;
            const seen = await subscription(watcher, "#");
            const conf = join(device.root, "impostor-mqtt.conf");
            writeFileSync(
                conf,
                device.read("etc/cdm/mqtt.conf").replace(/^MQTT_URL=.*$/m, `MQTT_URL='${impostor.tlsUrl}'`),
            );
            const run = await runPublisher(["--once"], { CDM_MQTT_CONF: conf });
            expect(run.status).toBe(1);
            expect(run.stdout).toBe("");
            // mosquitto_pub's own words for a server certificate that does not verify (the wording
            // depends on whether the handshake fails in its connect or its first read).
            const [why, result] = run.stderr.trimEnd().split("\n");
            expect(why).toMatch(/^(Unable to connect \(|Error: )A TLS error occurred\.\)?\.?$/);
            expect(result).toBe(`cdm-telemetry: could not publish to ${impostor.tlsUrl}`);
            expect(seen.pending()).toBe(0);
            expect(impostor.log()).not.toContain(`as ${deviceId}`);
            await watcher.endAsync(true);
        } finally {
            await impostor.stop();
        }
    });

    it("refuses bad settings and usage before connecting (exit 2)", async () => {
        const conf = join(device.root, "bad-mqtt.conf");
        const good = device.read("etc/cdm/mqtt.conf");
        const refused = async (text: string, env: Record<string, string> = {}, args = ["--once"]) => {
            writeFileSync(conf, text);
            const run = await runPublisher(args, { CDM_MQTT_CONF: conf, ...env });
            return [run.status, run.stderr.trim()];
        };
        expect(await refused(good.replace(/^MQTT_URL=.*$/m, "MQTT_URL='mqtt://localhost:1883'"))).toEqual([
            2,
            "cdm-telemetry: MQTT_URL must be mqtts://host[:port], not mqtt://localhost:1883",
        ]);
        expect(await refused(good.replace(/^MQTT_TOPIC=.*\n/m, ""))).toEqual([
            2,
            `cdm-telemetry: MQTT_TOPIC is not set in ${conf}`,
        ]);
        expect(await refused(good, { CDM_TELEMETRY_INTERVAL: "0" })).toEqual([
            2,
            "cdm-telemetry: CDM_TELEMETRY_INTERVAL takes whole seconds (1 or more), not '0'",
        ]);
        expect(await refused(good, {}, ["--twice"])).toEqual([2, "usage: cdm-telemetry [--once]"]);
    });
});
