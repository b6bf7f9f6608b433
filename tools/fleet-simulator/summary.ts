/**
 * The run's numbers: counters the devices update, and the summary made from them (pure maths:
 * rates, nearest-rank percentiles, failures grouped by reason and errors by kind).
 */

/** What the fleet has done so far; the devices update it, the progress line and summary read it. */
export class FleetStats {
    enrolled = 0;
    /** Failed enrollments by reason (the bridge's `error: message`, or the check that failed). */
    readonly failures = new Map<string, number>();
    sent = 0;
    /** Messages the devices' schedules hold for the run (sent + late + failed, when all is well: sent). */
    scheduled = 0;
    /** Telemetry slots skipped because a device fell a period behind. */
    late = 0;
    polls = 0;
    /** Errors after enrollment by kind (`mqtt connect`, `poll 401`, …). */
    readonly errors = new Map<string, number>();
    readonly latencies = { enroll: [] as number[], publish: [] as number[], poll: [] as number[] };
    /** When enrollment began and ended (ms). */
    enrollStartMs?: number;
    enrollEndMs?: number;
    /** When telemetry and polling began and ended (ms). */
    runStartMs?: number;
    runEndMs?: number;

    fail(reason: string): void {
        this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    }

    error(kind: string): void {
        this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    }

    get failed(): number {
        return sum(this.failures.values());
    }
}

function sum(values: Iterable<number>): number {
    let total = 0;
    for (const v of values) total += v;
    return total;
}

function seconds(startMs: number | undefined, endMs: number | undefined): number {
    return startMs !== undefined && endMs !== undefined ? Math.max(0, (endMs - startMs) / 1000) : 0;
}

/** Nearest-rank percentile `p` (0-100] of `values`; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
    if (!values.length) return undefined;
    const sorted = [...values].sort((a, b) => a - b);
    const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
    return sorted[rank - 1];
}

export interface LatencySummary {
    readonly count: number;
    readonly p50Ms?: number;
    readonly p90Ms?: number;
    readonly p99Ms?: number;
    readonly maxMs?: number;
}

export function latencySummary(values: readonly number[]): LatencySummary {
    const ms = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
    return {
        count: values.length,
        p50Ms: ms(percentile(values, 50)),
        p90Ms: ms(percentile(values, 90)),
        p99Ms: ms(percentile(values, 99)),
        maxMs: ms(percentile(values, 100)),
    };
}

export interface Summary {
    readonly devices: number;
    readonly enrolled: number;
    readonly failed: number;
    /** Enrollments per second over the enrollment phase. */
    readonly enrollmentsPerSecond: number;
    /** Failure reasons with their counts, most frequent first. */
    readonly failures: readonly { reason: string; count: number }[];
    readonly messagesSent: number;
    readonly messagesScheduled: number;
    readonly late: number;
    readonly messagesPerSecond: number;
    readonly polls: number;
    readonly errors: Readonly<Record<string, number>>;
    readonly runSeconds: number;
    readonly latency: { enroll: LatencySummary; publish: LatencySummary; poll: LatencySummary };
}

/** The summary of `stats` for a fleet of `devices`. */
export function summarize(stats: FleetStats, devices: number): Summary {
    const runSeconds = seconds(stats.runStartMs, stats.runEndMs);
    const enrollSeconds = seconds(stats.enrollStartMs, stats.enrollEndMs);
    return {
        devices,
        enrolled: stats.enrolled,
        failed: stats.failed,
        enrollmentsPerSecond:
            enrollSeconds > 0 ? Math.round((stats.enrolled / enrollSeconds) * 100) / 100 : 0,
        failures: [...stats.failures]
            .map(([reason, count]) => ({ reason, count }))
            .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
        messagesSent: stats.sent,
        messagesScheduled: stats.scheduled,
        late: stats.late,
        messagesPerSecond: runSeconds > 0 ? Math.round((stats.sent / runSeconds) * 100) / 100 : 0,
        polls: stats.polls,
        errors: Object.fromEntries([...stats.errors].sort(([a], [b]) => a.localeCompare(b))),
        runSeconds: Math.round(runSeconds * 100) / 100,
        latency: {
            enroll: latencySummary(stats.latencies.enroll),
            publish: latencySummary(stats.latencies.publish),
            poll: latencySummary(stats.latencies.poll),
        },
    };
}

function latencyLine(name: string, l: LatencySummary): string {
    if (!l.count) return `  ${name.padEnd(8)} -`;
    return `  ${name.padEnd(8)} n=${l.count} p50 ${l.p50Ms} ms  p90 ${l.p90Ms} ms  p99 ${l.p99Ms} ms  max ${l.maxMs} ms`;
}

/** The summary as the lines printed at the end of a run. */
export function formatSummary(s: Summary): string[] {
    const errors = Object.entries(s.errors);
    return [
        `enrolled ${s.enrolled} of ${s.devices} (${s.enrollmentsPerSecond}/s), failed ${s.failed}`,
        ...s.failures.map((f) => `  ${f.count} × ${f.reason}`),
        `telemetry: ${s.messagesSent} of ${s.messagesScheduled} scheduled messages in ${s.runSeconds} s (${s.messagesPerSecond}/s), ${s.late} late slots skipped`,
        `DDI polls: ${s.polls}`,
        errors.length ? `errors: ${errors.map(([k, n]) => `${k} ${n}`).join(", ")}` : "errors: none",
        "latency:",
        latencyLine("enroll", s.latency.enroll),
        latencyLine("publish", s.latency.publish),
        latencyLine("poll", s.latency.poll),
    ];
}
