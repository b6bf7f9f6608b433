import { MqttClient } from "mqtt";
import { describe, expect, it } from "vitest";
import { runTelemetry } from "../../../tools/fleet-simulator/device";
import { boundedAll, deviceId } from "../../../tools/fleet-simulator/fleet";
import { deviceSchedule, slotsBefore } from "../../../tools/fleet-simulator/schedule";
import { FleetStats } from "../../../tools/fleet-simulator/summary";

/** A stand-in MQTT session: records publishes; `failFirst` rejects the first one. */
function fakeClient(log: string[], failFirst = false) {
    let calls = 0;
    const client = {
        connected: true,
        publishAsync: async (topic: string, payload: string) => {
            calls++;
            if (failFirst && calls === 1) throw new Error("connection lost");
            log.push(`${topic} ${JSON.parse(payload).cpu_usage}`);
        },
        end: () => {
            client.connected = false;
        },
        endAsync: async () => undefined,
    };
    return client as unknown as MqttClient;
}

describe("a device's telemetry loop", () => {
    it("sends exactly one message per slot before the end", async () => {
        const stats = new FleetStats();
        const log: string[] = [];
        const start = Date.now() + 20;
        const schedule = deviceSchedule(start, 50, 1, 2); // every 20 ms, phase 10 ms
        await runTelemetry(async () => fakeClient(log), fakeClient(log), "t", schedule, start + 200, stats);
        expect(slotsBefore(schedule, start + 200)).toBe(10);
        expect(stats.sent + stats.late).toBe(10);
        expect(log.length).toBe(stats.sent);
        expect(log[0]).toBe("t 0");
        expect(stats.latencies.publish).toHaveLength(stats.sent);
    });

    it("counts a failed publish and opens a new session at the next slot", async () => {
        const stats = new FleetStats();
        const log: string[] = [];
        let connects = 0;
        const start = Date.now();
        await runTelemetry(
            async () => {
                connects++;
                return fakeClient(log);
            },
            fakeClient(log, true),
            "t",
            deviceSchedule(start, 20, 0, 1), // every 50 ms
            start + 140,
            stats,
        );
        expect([connects, stats.sent + stats.late, Object.fromEntries(stats.errors)]).toEqual([
            1,
            2,
            { "mqtt publish": 1 },
        ]);
    });

    it("counts a refused connection as such", async () => {
        const stats = new FleetStats();
        const start = Date.now();
        await runTelemetry(
            () => Promise.reject(new Error("refused")),
            undefined,
            "t",
            deviceSchedule(start, 20, 0, 1),
            start + 90,
            stats,
        );
        expect([stats.sent, [...stats.errors.keys()]]).toEqual([0, ["mqtt connect"]]);
        expect(stats.errors.get("mqtt connect")! + stats.late).toBe(2);
    });
});

describe("the fleet's bounds", () => {
    it("never runs more than the limit at once, and keeps results in order", async () => {
        let running = 0;
        let peak = 0;
        const results = await boundedAll(25, 4, async (i) => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 1 + (i % 3)));
            running--;
            return i * 2;
        });
        expect(peak).toBe(4);
        expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
    });

    it("names devices as DNS labels", () => {
        expect([deviceId("sim-ab12cd", 1), deviceId("load", 12345)]).toEqual([
            "sim-ab12cd-0001",
            "load-12345",
        ]);
    });
});
