/** retryUntilDone: backoff between failures, success ends it, shutdown stops it. */
import { describe, expect, it } from "vitest";
import { retryUntilDone } from "../../runtime/shared/retry";

describe("retryUntilDone", () => {
    it("retries with doubling waits up to the maximum until the task succeeds", async () => {
        const waits: number[] = [];
        let attempts = 0;
        const done = await retryUntilDone(
            async () => {
                if (++attempts < 5) throw new Error(`hawkBit answered 503 (attempt ${attempts})`);
            },
            {
                signal: new AbortController().signal,
                initialDelayMs: 5,
                maxDelayMs: 20,
                onFailure: (error, retryInMs) => {
                    expect(String(error)).toBe(`Error: hawkBit answered 503 (attempt ${waits.length + 1})`);
                    waits.push(retryInMs);
                },
            },
        );
        expect([done, attempts, waits]).toEqual([true, 5, [5, 10, 20, 20]]);
    });

    it("stops when the signal aborts, during a wait, and answers false", async () => {
        const stop = new AbortController();
        let attempts = 0;
        const started = Date.now();
        const running = retryUntilDone(
            async () => {
                attempts++;
                throw new Error("down");
            },
            { signal: stop.signal, initialDelayMs: 60_000, maxDelayMs: 60_000, onFailure: () => undefined },
        );
        setTimeout(() => stop.abort(), 50);
        expect(await running).toBe(false);
        expect(attempts).toBe(1);
        expect(Date.now() - started).toBeLessThan(5_000);
    });
});
