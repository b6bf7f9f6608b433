/**
 * The progress display: one line rewritten in place on a terminal, or a plain line every
 * `intervalMs` otherwise (CI logs, files), so a long run's log stays readable.
 */
import { FleetStats } from "./summary";

/** The progress line for `stats` at `elapsedMs` into the run (pure). */
export function progressLine(stats: FleetStats, devices: number, elapsedMs: number): string {
    const errors = [...stats.errors.values()].reduce((a, b) => a + b, 0);
    return [
        `${(elapsedMs / 1000).toFixed(0)}s`,
        `enrolled ${stats.enrolled}/${devices}`,
        `failed ${stats.failed}`,
        `sent ${stats.sent}`,
        `polls ${stats.polls}`,
        `errors ${errors}`,
    ].join("  ");
}

export interface ProgressOutput {
    readonly isTTY?: boolean;
    write(text: string): unknown;
}

/** Writes the progress line until stopped; `stop()` ends the in-place line with a newline. */
export function startProgress(
    stats: FleetStats,
    devices: number,
    out: ProgressOutput,
    intervalMs = out.isTTY ? 250 : 10_000,
): { stop(): void } {
    const started = Date.now();
    const draw = () => {
        const line = progressLine(stats, devices, Date.now() - started);
        // \r and "erase to end of line": the shorter new line leaves nothing of the old one.
        out.write(out.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
    };
    const timer = setInterval(draw, intervalMs);
    timer.unref();
    return {
        stop() {
            clearInterval(timer);
            draw();
            if (out.isTTY) out.write("\n");
        },
    };
}
