import { describe, expect, it } from "vitest";
import { progressLine } from "../../../tools/fleet-simulator/progress";
import { FleetStats, formatSummary, percentile, summarize } from "../../../tools/fleet-simulator/summary";

describe("the run's summary", () => {
    it("takes nearest-rank percentiles", () => {
        const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
        expect([50, 90, 99, 100].map((p) => percentile(values, p))).toEqual([50, 90, 99, 100]);
        expect(percentile([7], 50)).toBe(7);
        expect(percentile([1, 2, 3, 4], 50)).toBe(2);
        expect(percentile([], 50)).toBeUndefined();
    });

    it("reports rates, failures by reason and errors by kind", () => {
        const stats = new FleetStats();
        stats.enrollStartMs = 0;
        stats.enrollEndMs = 4000;
        stats.enrolled = 18;
        stats.fail("401 enrollment_token_refused: used up");
        stats.fail("network: connect ECONNREFUSED");
        stats.fail("401 enrollment_token_refused: used up");
        stats.runStartMs = 10_000;
        stats.runEndMs = 20_000;
        stats.sent = 355;
        stats.scheduled = 360;
        stats.late = 5;
        stats.polls = 18;
        stats.error("poll 401");
        stats.error("mqtt publish");
        stats.error("mqtt publish");
        stats.latencies.enroll.push(120, 80, 100);
        stats.latencies.publish.push(2.04, 1.5);
        const s = summarize(stats, 21);
        expect(s).toEqual({
            devices: 21,
            enrolled: 18,
            failed: 3,
            enrollmentsPerSecond: 4.5,
            failures: [
                { reason: "401 enrollment_token_refused: used up", count: 2 },
                { reason: "network: connect ECONNREFUSED", count: 1 },
            ],
            messagesSent: 355,
            messagesScheduled: 360,
            late: 5,
            messagesPerSecond: 35.5,
            polls: 18,
            errors: { "mqtt publish": 2, "poll 401": 1 },
            runSeconds: 10,
            latency: {
                enroll: { count: 3, p50Ms: 100, p90Ms: 120, p99Ms: 120, maxMs: 120 },
                publish: { count: 2, p50Ms: 1.5, p90Ms: 2, p99Ms: 2, maxMs: 2 },
                poll: { count: 0, p50Ms: undefined, p90Ms: undefined, p99Ms: undefined, maxMs: undefined },
            },
        });
        expect(formatSummary(s)).toEqual([
            "enrolled 18 of 21 (4.5/s), failed 3",
            "  2 × 401 enrollment_token_refused: used up",
            "  1 × network: connect ECONNREFUSED",
            "telemetry: 355 of 360 scheduled messages in 10 s (35.5/s), 5 late slots skipped",
            "DDI polls: 18",
            "errors: mqtt publish 2, poll 401 1",
            "latency:",
            "  enroll   n=3 p50 100 ms  p90 120 ms  p99 120 ms  max 120 ms",
            "  publish  n=2 p50 1.5 ms  p90 2 ms  p99 2 ms  max 2 ms",
            "  poll     -",
        ]);
        expect(progressLine(stats, 21, 12_400)).toBe(
            "12s  enrolled 18/21  failed 3  sent 355  polls 18  errors 3",
        );
    });

    it("has no rates before anything ran", () => {
        const s = summarize(new FleetStats(), 5);
        expect([s.enrollmentsPerSecond, s.messagesPerSecond, s.runSeconds]).toEqual([0, 0, 0]);
        expect(formatSummary(s)).toContain("errors: none");
    });
});
