/**
 * The ThingsBoard bootstrap Job (./bootstrap.ts): waits for tb-node to answer, then brings it to
 * the platform's state. Exit 2 names a bad variable; exit 1 names the step that failed.
 */
import { httpApi } from "./api";
import { bootstrap } from "./bootstrap";
import { readBootstrapConfig } from "./config";
import { configOrExit } from "../shared/env";

/** Polls the login page until tb-node answers 200, for at most `seconds`. */
async function waitForThingsboard(url: string, seconds: number): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        try {
            const res = await fetch(new URL("/login", url), { signal: AbortSignal.timeout(10_000) });
            if (res.ok) return;
        } catch {
            // Not listening yet.
        }
        if (Date.now() > deadline) throw new Error(`ThingsBoard did not answer within ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, 5000));
    }
}

async function main(): Promise<void> {
    const config = configOrExit(readBootstrapConfig);
    const log = (step: string, details: Record<string, string> = {}) =>
        process.stdout.write(
            `${JSON.stringify({ time: new Date().toISOString(), msg: step, ...details })}\n`,
        );
    await waitForThingsboard(config.url, config.waitSeconds);
    await bootstrap(httpApi(config.url), config, log);
    log("ThingsBoard is bootstrapped");
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(`bootstrap failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
    });
}
