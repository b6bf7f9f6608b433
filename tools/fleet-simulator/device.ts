/**
 * One simulated device on the wire: its enrollment call (retried as the agent retries), its MQTT
 * session over mutual TLS with the enrolled certificate chain (as cdm-telemetry: QoS 1 on the
 * answer's topic, client id = device id), and its DDI polls of hawkBit with the target token,
 * sleeping as hawkBit says between them.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { performance } from "node:perf_hooks";
import { connect, MqttClient } from "mqtt";
import { answerProblems, DeviceIdentity, Enrollment, enrollmentOf, retriable } from "./enrollment";
import { dueAt, nextSlot, Schedule } from "./schedule";
import { FleetStats } from "./summary";

export interface HttpAnswer {
    readonly status: number;
    readonly text: string;
    readonly retryAfterSeconds?: number;
}

/** One HTTP(S) call trusting `ca` (or the system store), with a 60 s limit. */
export function httpCall(
    method: string,
    url: string,
    options: { body?: unknown; headers?: Record<string, string>; ca?: string } = {},
): Promise<HttpAnswer> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = url.startsWith("https:") ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
        const req = request(
            url,
            {
                method,
                ...(options.ca ? { ca: options.ca } : {}),
                timeout: 60_000,
                headers: {
                    accept: "application/json",
                    ...(payload ? { "content-type": "application/json" } : {}),
                    ...options.headers,
                },
            },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (d: string) => (text += d));
                res.on("end", () => {
                    const retryAfter = Number(res.headers["retry-after"]);
                    resolve({
                        status: res.statusCode ?? 0,
                        text,
                        retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : undefined,
                    });
                });
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", reject);
        req.end(payload);
    });
}

/** The bridge's `error: message` of a refusal, or the status alone. */
export function refusalReason(answer: HttpAnswer): string {
    try {
        const body = JSON.parse(answer.text) as { error?: unknown; message?: unknown };
        if (typeof body.error === "string")
            return `${answer.status} ${body.error}: ${String(body.message ?? "")}`;
    } catch {
        // not JSON
    }
    return `${answer.status}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Enrolls `device`: retries network errors, 408, 429 and 5xx (at most `attempts`, backoff from 1 s
 * doubling, at least Retry-After), and any answer that does not check out; stops at any other
 * status. Answers the enrollment, or records why it failed and answers undefined.
 */
export async function enroll(
    bridgeUrl: string,
    token: string,
    device: DeviceIdentity,
    rootCaPem: string | undefined,
    stats: FleetStats,
    attempts = 4,
): Promise<Enrollment | undefined> {
    let reason = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(1000 * 2 ** (attempt - 2));
        const started = performance.now();
        let answer: HttpAnswer;
        try {
            answer = await httpCall("POST", `${bridgeUrl}/devices/${device.id}/enroll`, {
                ca: rootCaPem,
                body: {
                    csr_pem: device.csrPem,
                    wireguard_public_key: device.wireguardPublicKey,
                    enrollment_token: token,
                },
            });
        } catch (error) {
            reason = `network: ${(error as Error).message}`;
            stats.error("enroll network");
            continue;
        }
        if (answer.status !== 201) {
            reason = refusalReason(answer);
            if (!retriable(answer.status)) break;
            stats.error(`enroll ${answer.status}`);
            if (answer.retryAfterSeconds) await sleep(answer.retryAfterSeconds * 1000);
            continue;
        }
        let json: unknown;
        try {
            json = JSON.parse(answer.text);
        } catch {
            json = undefined;
        }
        const problems = answerProblems(json, device, rootCaPem);
        if (problems.length) {
            reason = `bad answer: ${problems.join("; ")}`;
            stats.error("enroll bad answer");
            continue;
        }
        stats.latencies.enroll.push(performance.now() - started);
        stats.enrolled++;
        return enrollmentOf(json);
    }
    stats.fail(reason);
    return undefined;
}

/** The spec's state message, in its field order, for slot `slot` of a device. */
export function stateMessage(slot: number, swVersion = "1.0.0"): string {
    return JSON.stringify({
        cpu_usage: ((slot * 37) % 1000) / 10,
        mem_free_mb: 256 + ((slot * 13) % 512),
        sw_version: swVersion,
        rauc_slot: "A",
        ota_status: "idle",
    });
}

/** Connects once over mutual TLS, presenting the certificate with its chain (as cdm-telemetry). */
export function connectMqtt(
    device: DeviceIdentity,
    e: Enrollment,
    url: string,
    ca: string,
): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
        const client = connect(url, {
            protocolVersion: 4,
            clientId: device.id,
            reconnectPeriod: 0,
            connectTimeout: 30_000,
            ca,
            cert:
                e.certificatePem.replace(/\n*$/, "\n") +
                e.chainPem.map((p) => p.replace(/\n*$/, "\n")).join(""),
            key: device.keyPem,
        });
        const fail = (error: Error) => {
            client.end(true);
            reject(error);
        };
        const closed = () => fail(new Error("closed by the broker"));
        client.once("connect", () => {
            client.removeListener("error", fail);
            client.removeListener("close", closed);
            // Later errors are seen by the publishes that fail (and `connected` turns false).
            client.on("error", () => undefined);
            resolve(client);
        });
        client.once("error", fail);
        client.once("close", closed);
    });
}

/** As cdm-telemetry's `timeout 30`: a publish whose PUBACK never comes must not hold the device. */
const publishTimeoutMs = 30_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Publishes on `schedule` until `endMs`; a failed publish (or a lost connection) is counted and
 * the device reconnects at its next slot.
 */
export async function runTelemetry(
    connectClient: () => Promise<MqttClient>,
    first: MqttClient | undefined,
    topic: string,
    schedule: Schedule,
    endMs: number,
    stats: FleetStats,
): Promise<void> {
    let client = first;
    let k = 0;
    try {
        for (;;) {
            const next = nextSlot(schedule, k, Date.now());
            stats.late += next.missed;
            k = next.slot;
            const due = dueAt(schedule, k);
            if (due >= endMs) return;
            await sleep(due - Date.now());
            k++;
            try {
                if (!client?.connected) {
                    client?.end(true);
                    client = undefined;
                    client = await connectClient();
                }
                const started = performance.now();
                await withTimeout(
                    client.publishAsync(topic, stateMessage(k - 1), { qos: 1 }),
                    publishTimeoutMs,
                );
                stats.latencies.publish.push(performance.now() - started);
                stats.sent++;
            } catch {
                stats.error(client ? "mqtt publish" : "mqtt connect");
                // A new session at the next slot.
                client?.end(true);
                client = undefined;
            }
        }
    } finally {
        await client?.endAsync().catch(() => undefined);
    }
}

/** Seconds of hawkBit's `HH:MM:SS` polling sleep, or undefined when it is not one. */
export function parseSleep(value: unknown): number | undefined {
    const m = typeof value === "string" ? /^(\d{1,3}):([0-5]\d):([0-5]\d)$/.exec(value) : null;
    return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

/** Polls the DDI root resource until `endMs`, sleeping what hawkBit answers (60 s when it says nothing). */
export async function runPolling(
    e: Enrollment,
    hawkbitUrl: string,
    ca: string | undefined,
    endMs: number,
    stats: FleetStats,
) {
    const url = `${hawkbitUrl}/${e.hawkbitTenant}/controller/v1/${e.controllerId}`;
    while (Date.now() < endMs) {
        let sleepSeconds = 60;
        const started = performance.now();
        try {
            const answer = await httpCall("GET", url, {
                ca,
                headers: { authorization: `TargetToken ${e.targetToken}`, accept: "application/hal+json" },
            });
            if (answer.status === 200) {
                stats.polls++;
                stats.latencies.poll.push(performance.now() - started);
                const body = JSON.parse(answer.text) as { config?: { polling?: { sleep?: unknown } } };
                sleepSeconds = parseSleep(body.config?.polling?.sleep) ?? sleepSeconds;
            } else {
                stats.error(`poll ${answer.status}`);
            }
        } catch {
            stats.error("poll network");
        }
        // The next poll is due after the run's end: stop (a timer may fire a little before a
        // wall-clock deadline, which would count one poll too many).
        const untilEnd = endMs - Date.now();
        if (sleepSeconds * 1000 >= untilEnd) break;
        await sleep(sleepSeconds * 1000);
    }
}
