/**
 * The fleet: enrolls every device with at most `concurrency` enrollments in flight, connects the
 * enrolled ones to the broker (same bound), then runs telemetry and DDI polling for all of them
 * from one common start for `durationSeconds`, so the run's message count is exact: each device
 * sends one message per slot of its schedule before the end.
 */
import { MqttClient } from "mqtt";
import { connectMqtt, enroll, runPolling, runTelemetry } from "./device";
import { DeviceIdentity, deviceIdentity, Enrollment } from "./enrollment";
import { SimulatorOptions } from "./options";
import { deviceSchedule, slotsBefore } from "./schedule";
import { FleetStats } from "./summary";

/** An enrolled simulated device as the caller may see it (no keys, no tokens). */
export interface EnrolledDevice {
    readonly id: string;
    /** The WireGuard address the bridge gave it (`10.8.0.2/32`). */
    readonly address: string;
}

export type FleetOptions = Omit<SimulatorOptions, "jsonFile">;

/** Runs `work(i)` for every i in [0, count) with at most `limit` at a time. */
export async function boundedAll<T>(
    count: number,
    limit: number,
    work: (i: number) => Promise<T>,
): Promise<T[]> {
    const results = new Array<T>(count);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, count) }, async () => {
            while (next < count) {
                const i = next++;
                results[i] = await work(i);
            }
        }),
    );
    return results;
}

interface Member {
    readonly index: number;
    readonly identity: DeviceIdentity;
    readonly enrollment: Enrollment;
    client?: MqttClient;
}

/** Device id `n` (from 1) of the fleet. */
export function deviceId(prefix: string, n: number): string {
    return `${prefix}-${String(n).padStart(4, "0")}`;
}

export async function runFleet(options: FleetOptions, stats: FleetStats): Promise<EnrolledDevice[]> {
    stats.enrollStartMs = Date.now();
    const enrolled = await boundedAll(options.devices, options.concurrency, async (i) => {
        const identity = await deviceIdentity(deviceId(options.prefix, i + 1));
        const enrollment = await enroll(options.bridgeUrl, options.token, identity, options.rootCaPem, stats);
        return enrollment ? { index: i, identity, enrollment } : undefined;
    });
    stats.enrollEndMs = Date.now();
    const members = enrolled.filter((m): m is Member => m !== undefined);

    const mqttCa = (e: Enrollment) => options.rootCaPem ?? e.rootPem;
    const connectOf = (m: Member) => () =>
        connectMqtt(m.identity, m.enrollment, options.mqttUrl ?? m.enrollment.mqttUrl, mqttCa(m.enrollment));
    if (options.mqtt) {
        await boundedAll(members.length, options.concurrency, async (i) => {
            try {
                members[i].client = await connectOf(members[i])();
            } catch {
                // runTelemetry connects again at the device's first slot.
                stats.error("mqtt connect");
            }
        });
    }

    stats.runStartMs = Date.now();
    const endMs = stats.runStartMs + options.durationSeconds * 1000;
    const start = stats.runStartMs;
    const schedules = options.mqtt
        ? members.map((m) => deviceSchedule(start, options.rate, m.index, options.devices))
        : [];
    stats.scheduled = schedules.reduce((n, s) => n + slotsBefore(s, endMs), 0);
    await Promise.all(
        members.flatMap((m, i) => [
            ...(options.mqtt
                ? [
                      runTelemetry(
                          connectOf(m),
                          m.client,
                          m.enrollment.telemetryTopic,
                          schedules[i],
                          endMs,
                          stats,
                      ),
                  ]
                : []),
            ...(options.poll
                ? [
                      runPolling(
                          m.enrollment,
                          options.hawkbitUrl ?? m.enrollment.hawkbitUrl,
                          options.rootCaPem,
                          endMs,
                          stats,
                      ),
                  ]
                : []),
        ]),
    );
    stats.runEndMs = Date.now();
    return members.map((m) => ({ id: m.identity.id, address: m.enrollment.address }));
}
