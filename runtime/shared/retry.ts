/** Retrying a task that must eventually succeed, such as configuring a peer that starts later. */

export interface RetryOptions {
    /** Stops retrying (the service is shutting down). */
    readonly signal: AbortSignal;
    /** First wait after a failure; doubled after each one. */
    readonly initialDelayMs: number;
    /** The longest wait between two attempts. */
    readonly maxDelayMs: number;
    /** Told of each failure and the wait before the next attempt. */
    readonly onFailure: (error: unknown, retryInMs: number) => void;
}

/**
 * Runs `task` until it succeeds, waiting longer after each failure (exponential backoff up to
 * `maxDelayMs`). Answers true once it succeeded, false when `signal` stopped it first.
 */
export async function retryUntilDone(task: () => Promise<unknown>, options: RetryOptions): Promise<boolean> {
    let delay = options.initialDelayMs;
    while (!options.signal.aborted) {
        try {
            await task();
            return true;
        } catch (error) {
            if (options.signal.aborted) return false;
            options.onFailure(error, delay);
            await abortableSleep(delay, options.signal);
            delay = Math.min(delay * 2, options.maxDelayMs);
        }
    }
    return false;
}

/** Waits `ms`, or less when `signal` aborts first. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done, { once: true });
        function done() {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
        }
    });
}
