/**
 * When each simulated device sends its telemetry: a fixed period (1 / rate), with devices' phases
 * spread evenly over one period so a fleet does not publish in the same instant. A device that
 * falls more than a period behind (a stalled event loop, a slow broker) skips the slots it missed
 * rather than bursting to catch up, and counts them: the summary reports them as late.
 */

export interface Schedule {
    /** When the device's telemetry starts (ms, any clock). */
    readonly startMs: number;
    readonly periodMs: number;
    /** Offset of slot 0 from the start, in [0, periodMs). */
    readonly phaseMs: number;
}

/** The schedule of device `index` of `devices` at `rate` messages per second, from `startMs`. */
export function deviceSchedule(startMs: number, rate: number, index: number, devices: number): Schedule {
    if (!(rate > 0)) throw new Error("a schedule needs a positive rate");
    const periodMs = 1000 / rate;
    return { startMs, periodMs, phaseMs: (periodMs * (index % devices)) / devices };
}

/** When slot `k` is due. */
export function dueAt(s: Schedule, k: number): number {
    return s.startMs + s.phaseMs + k * s.periodMs;
}

/**
 * The slot to send next after `k` slots were taken, at `nowMs`: `k` itself while it is less than
 * a period overdue, otherwise the latest slot already due, with the ones skipped counted.
 */
export function nextSlot(s: Schedule, k: number, nowMs: number): { slot: number; missed: number } {
    if (dueAt(s, k) > nowMs - s.periodMs) return { slot: k, missed: 0 };
    const latest = Math.floor((nowMs - s.startMs - s.phaseMs) / s.periodMs);
    return { slot: latest, missed: latest - k };
}

/** How many slots fall before `endMs` (due strictly earlier): the messages an on-time device sends. */
export function slotsBefore(s: Schedule, endMs: number): number {
    const span = endMs - s.startMs - s.phaseMs;
    return span <= 0 ? 0 : Math.ceil(span / s.periodMs);
}
