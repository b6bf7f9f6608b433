/**
 * Device state messages per second through the MQTT stand-in for ThingsBoard's transport
 * (Debian's Mosquitto, configured by tests/support/mosquitto.ts): N device clients, each over
 * mutual TLS with a certificate of the tenant's Sub-CA presented with its chain, publish the
 * spec's message with QoS 1 (as cdm-telemetry does) and one subscriber takes them all. The
 * baseline, in the same run on the same broker, is the broker's own ceiling: one plain client on
 * its loopback listener without TLS publishing the same messages, same QoS, same subscriber.
 *
 * Certificates are made with the test PKI (the same profiles as step-ca's; the issuer does not
 * change the cost of a handshake). Connecting is not timed: the ratio is the steady-state cost of
 * TLS and of many sessions. Publishers keep at most `window` messages ahead of the subscriber, so
 * Mosquitto's per-client queue limit (1000) never drops one; every message must arrive.
 */
import { MqttClient } from "mqtt";
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { x509 } from "../../runtime/shared/x509";
import { deviceDnsName } from "../../runtime/shared/pki-names";
import { mosquittoBinary, mqttConnect, startMosquitto, subCaTrustAnchor } from "../support/mosquitto";
import { leafCertificate, localhostTls } from "../support/pki";
import { tenantPki } from "../support/tenant-peers";
import { Scenario, scenario } from "./scenario";

export const topic = "v1/devices/me/telemetry";

/** True when Debian's Mosquitto and its clients are installed (not part of a quick run). */
export function mosquittoInstalled(): boolean {
    return existsSync("/usr/sbin/mosquitto") && existsSync("/usr/bin/mosquitto_pub");
}
const window = 400;

/** The spec's message for message `i`. */
function stateMessage(i: number): string {
    return JSON.stringify({
        cpu_usage: Math.round((i * 7.3) % 1000) / 10,
        mem_free_mb: 256 + (i % 768),
        sw_version: "1.4.2",
        rauc_slot: i % 2 ? "A" : "B",
        ota_status: "idle",
    });
}

export async function connected(
    url: string,
    options: Parameters<typeof mqttConnect>[1] = {},
): Promise<MqttClient> {
    const connection = await mqttConnect(url, options);
    if (!connection.client) throw new Error(`MQTT connection to ${url} refused: ${connection.refused}`);
    return connection.client;
}

/** Publishes `perClient` messages from each client concurrently; answers messages per second. */
export async function run(
    publishers: MqttClient[],
    subscriber: MqttClient,
    perClient: number,
): Promise<number> {
    const total = publishers.length * perClient;
    let received = 0;
    // Every publisher waiting for room is woken by each message.
    const waiting: (() => void)[] = [];
    const onMessage = () => {
        received++;
        for (const wake of waiting.splice(0)) wake();
    };
    subscriber.on("message", onMessage);
    let sent = 0;
    const room = async (ahead: number) => {
        while (sent - received > ahead) await new Promise<void>((resolve) => waiting.push(resolve));
    };
    const start = performance.now();
    await Promise.all(
        publishers.map(async (client) => {
            const inFlight: Promise<unknown>[] = [];
            for (let i = 0; i < perClient; i++) {
                await room(window);
                sent++;
                inFlight.push(client.publishAsync(topic, stateMessage(i), { qos: 1 }));
                // Mosquitto's default in-flight limit per client.
                if (inFlight.length >= 20) await inFlight.shift();
            }
            await Promise.all(inFlight);
        }),
    );
    await room(0);
    const rate = total / ((performance.now() - start) / 1000);
    subscriber.off("message", onMessage);
    if (received !== total) throw new Error(`MQTT: ${received} of ${total} messages arrived`);
    return rate;
}

export async function telemetryMqtt(quick: boolean): Promise<Scenario[]> {
    const devices = quick ? 4 : 20;
    const perDevice = quick ? 500 : 2500;
    mosquittoBinary();
    const pki = await tenantPki("acme");
    const server = await localhostTls(pki.subCa);
    const broker = await startMosquitto(
        {
            serverChainPem: server.certPem + pki.ica.pem,
            serverKeyPem: server.keyPem,
            clientCaPem: await subCaTrustAnchor(pki.subCa),
        },
        { plain: true },
    );
    const clients: MqttClient[] = [];
    try {
        const subscriber = await connected(broker.plainUrl!);
        clients.push(subscriber);
        await subscriber.subscribeAsync(topic, { qos: 1 });
        const deviceClients: MqttClient[] = [];
        for (let d = 0; d < devices; d++) {
            const id = `dev-bench-${d}`;
            const leaf = await leafCertificate(pki.subCa, `CN=${id}`, [
                new x509.SubjectAlternativeNameExtension([{ type: "dns", value: deviceDnsName("acme", id) }]),
                new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
            ]);
            const client = await connected(broker.tlsUrl, {
                clientId: id,
                ca: pki.root.pem,
                cert: leaf.pem + pki.subCa.pem + pki.ica.pem,
                key: leaf.key.privatePem,
            });
            deviceClients.push(client);
        }
        clients.push(...deviceClients);
        const plain = await connected(broker.plainUrl!, { clientId: "bench-plain" });
        clients.push(plain);
        // Warm-up, not timed.
        await run(deviceClients, subscriber, 50);
        await run([plain], subscriber, 50 * devices);
        const viaTls = await run(deviceClients, subscriber, perDevice);
        const ceiling = await run([plain], subscriber, perDevice * devices);
        return [
            scenario(
                `telemetry via MQTT (${devices} mTLS devices)`,
                "state messages per second from device clients over mutual TLS (QoS 1), vs one plain loopback client",
                "msg/s",
                viaTls,
                ceiling,
            ),
        ];
    } finally {
        for (const c of clients) await c.endAsync(true).catch(() => undefined);
        await broker.stop();
    }
}
