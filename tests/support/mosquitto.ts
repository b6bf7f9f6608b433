/**
 * Private Mosquitto brokers (Debian's, installed by scripts/peers/mosquitto.sh) as the stand-in
 * for a tenant's ThingsBoard MQTT transport: a TLS listener on loopback with a server certificate
 * of the tenant's Sub-CA that requires a client certificate and takes its CN (the device id) as
 * the username, and optionally a plain listener for the test's own subscriber and the benchmark's
 * ceiling. Also MQTT clients (the `mqtt` package) that tell a refusal from a connection.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { connect, IClientOptions, MqttClient } from "mqtt";
import { x509 } from "../../runtime/shared/x509";
import { projectRoot } from "../../tools/stack-config";
import { freePort } from "./peers";
import { TestCa } from "./pki";

// @peculiar/x509's typings name the DOM's Crypto; Node's WebCrypto is the same API.
const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];

let broker: string | undefined;

/** The broker's path (Debian's mosquitto and mosquitto-clients installed on first use). */
export function mosquittoBinary(): string {
    broker ??= execFileSync(join(projectRoot, "scripts/peers/mosquitto.sh"), ["install"], {
        encoding: "utf8",
    }).trim();
    return broker;
}

/** What the broker's TLS listener serves and trusts, in PEM. */
export interface BrokerTls {
    /** The server certificate and its issuers up to the root (not included), leaf first. */
    readonly serverChainPem: string;
    readonly serverKeyPem: string;
    /** The trust anchors of client certificates (Mosquitto's `cafile`). */
    readonly clientCaPem: string;
}

/** The configuration's file paths and ports. */
export interface BrokerLayout {
    readonly tlsPort: number;
    /** A listener without TLS or authentication, when set. */
    readonly plainPort?: number;
    readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
    /** The user the broker drops to when started as root. */
    readonly user?: string;
}

/** mosquitto.conf of the stand-in (pure). */
export function mosquittoConf(layout: BrokerLayout): string {
    return [
        "# The stand-in for ThingsBoard's MQTT transport; written by tests/support/mosquitto.ts.",
        "per_listener_settings true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        ...(layout.user ? [`user ${layout.user}`] : []),
        "",
        "# MQTTS as devices reach it: a client certificate chaining to a trusted anchor is required,",
        "# and its CN (the device id) is the client's username; nothing else gets in.",
        `listener ${layout.tlsPort} 127.0.0.1`,
        `certfile ${layout.files.cert}`,
        `keyfile ${layout.files.key}`,
        `cafile ${layout.files.ca}`,
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        ...(layout.plainPort === undefined
            ? []
            : [
                  "",
                  "# The test's own subscriber.",
                  `listener ${layout.plainPort} 127.0.0.1`,
                  "allow_anonymous true",
              ]),
        "",
    ].join("\n");
}

/**
 * The tenant's Sub-CA as the only trust anchor: the same subject, key and extensions, self-signed.
 * ThingsBoard trusts a device whose presented chain contains the Sub-CA of a device profile, and
 * nothing above it; OpenSSL in Mosquitto takes no partial chain, and a `cafile` holding the
 * Sub-CA's issuers would admit every tenant under the same platform root (mqtt.test.ts shows it).
 */
export async function subCaTrustAnchor(subCa: TestCa): Promise<string> {
    const authorityKeyIdentifier = "2.5.29.35";
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
        {
            serialNumber: "7a",
            name: subCa.cert.subject,
            notBefore: subCa.cert.notBefore,
            notAfter: subCa.cert.notAfter,
            keys: subCa.key.keys,
            signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
            extensions: subCa.cert.extensions.filter((e) => e.type !== authorityKeyIdentifier),
        },
        crypto,
    );
    return `${cert.toString("pem")}\n`;
}

export interface RunningBroker {
    readonly tlsPort: number;
    readonly plainPort?: number;
    /** mqtts://localhost:<tlsPort> (the server certificate names localhost). */
    readonly tlsUrl: string;
    /** mqtt://127.0.0.1:<plainPort>, when there is a plain listener. */
    readonly plainUrl?: string;
    /** What the broker logged so far. */
    log(): string;
    /** Waits until the log matches `pattern` (the broker logs after the client has seen the outcome). */
    logged(pattern: RegExp, timeoutMs?: number): Promise<boolean>;
    stop(): Promise<void>;
}

/**
 * Starts a private broker on loopback and waits until it runs: MQTTS on `tlsPort` (a free port by
 * default) and, with `plain`, a plain listener on a free port. A free port taken by another
 * process before the broker binds it (the machine is shared) means another try on new ports.
 */
export async function startMosquitto(
    tls: BrokerTls,
    options: { plain?: boolean; tlsPort?: number } = {},
): Promise<RunningBroker> {
    for (let attempt = 1; ; attempt++) {
        try {
            return await launch(tls, options);
        } catch (error) {
            if (attempt >= 5 || !/Address already in use/.test(String(error))) throw error;
        }
    }
}

async function launch(
    tls: BrokerTls,
    options: { plain?: boolean; tlsPort?: number },
): Promise<RunningBroker> {
    const binary = mosquittoBinary();
    const dir = mkdtempSync(join(tmpdir(), "cdm-mosquitto-"));
    const files = {
        cert: join(dir, "server.crt"),
        key: join(dir, "server.key"),
        ca: join(dir, "clients-ca.crt"),
    };
    writeFileSync(files.cert, tls.serverChainPem);
    writeFileSync(files.key, tls.serverKeyPem, { mode: 0o600 });
    writeFileSync(files.ca, tls.clientCaPem);
    const tlsPort = options.tlsPort ?? (await freePort());
    const plainPort = options.plain ? await freePort() : undefined;
    // As root the broker drops to Debian's mosquitto user, which must read its files.
    const user = process.getuid?.() === 0 ? "mosquitto" : undefined;
    writeFileSync(join(dir, "mosquitto.conf"), mosquittoConf({ tlsPort, plainPort, files, user }));
    if (user) execFileSync("chown", ["-R", `${user}:`, dir]);
    let output = "";
    const child: ChildProcess = spawn(binary, ["-c", join(dir, "mosquitto.conf")], {
        stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const stop = () =>
        new Promise<void>((resolve) => {
            const done = () => {
                rmSync(dir, { recursive: true, force: true });
                resolve();
            };
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", done);
            child.kill("SIGTERM");
        });
    // It logs "mosquitto version <v> running" once every listener is open.
    const deadline = Date.now() + 15_000;
    while (!/mosquitto version \S+ running/.test(output)) {
        if (child.exitCode !== null || Date.now() > deadline) {
            await stop();
            throw new Error(`mosquitto did not start (exit ${child.exitCode}):\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 20));
    }
    return {
        tlsPort,
        plainPort,
        tlsUrl: `mqtts://localhost:${tlsPort}`,
        plainUrl: plainPort ? `mqtt://127.0.0.1:${plainPort}` : undefined,
        log: () => output,
        async logged(pattern, timeoutMs = 5000) {
            const until = Date.now() + timeoutMs;
            while (!pattern.test(output) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
            return pattern.test(output);
        },
        stop,
    };
}

/** A connected client, or why the broker or the TLS layer refused it. */
export type Connection =
    { client: MqttClient; refused?: undefined } | { client?: undefined; refused: string };

/** Connects once (no reconnection) with MQTT 3.1.1, as devices do. */
export function mqttConnect(url: string, options: IClientOptions = {}): Promise<Connection> {
    return new Promise((resolve) => {
        const client = connect(url, {
            protocolVersion: 4,
            reconnectPeriod: 0,
            connectTimeout: 10_000,
            ...options,
        });
        const refuse = (why: string) => {
            client.end(true);
            resolve({ refused: why });
        };
        client.once("connect", () => resolve({ client }));
        client.once("error", (e) => refuse(e.message));
        client.once("close", () => refuse("closed by the server"));
    });
}

/** Subscribes on a connected client; `next()` answers the next message's topic and payload. */
export async function subscription(client: MqttClient, topic: string) {
    const queue: { topic: string; payload: string }[] = [];
    const waiting: ((m: { topic: string; payload: string }) => void)[] = [];
    client.on("message", (t, payload) => {
        const message = { topic: t, payload: payload.toString() };
        const waiter = waiting.shift();
        if (waiter) waiter(message);
        else queue.push(message);
    });
    await client.subscribeAsync(topic, { qos: 1 });
    return {
        next(timeoutMs = 10_000): Promise<{ topic: string; payload: string }> {
            const queued = queue.shift();
            if (queued) return Promise.resolve(queued);
            return new Promise((resolve, reject) => {
                const waiter = (m: { topic: string; payload: string }) => {
                    clearTimeout(timer);
                    resolve(m);
                };
                const timer = setTimeout(() => {
                    waiting.splice(waiting.indexOf(waiter), 1);
                    reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
                }, timeoutMs);
                waiting.push(waiter);
            });
        },
        /** Messages received and not yet taken. */
        pending: () => queue.length,
    };
}
