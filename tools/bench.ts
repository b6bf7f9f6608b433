/**
 * `npm run bench -- [--quick] [--json FILE]`: how long the program takes to evaluate each stack
 * under the mock engine, as a ratio against evaluating an empty program in the same run (so the
 * figure says what the platform's own code costs, whatever the machine). Runs are interleaved
 * to spread machine noise evenly; the median is reported.
 */
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { evaluateStack, EvaluateOptions } from "./mock-engine";
import { loadStackConfig } from "./stack-config";

/** One benchmark result in the shared JSON format. */
export interface Scenario {
    readonly name: string;
    readonly metric: string;
    readonly unit: string;
    readonly value: number;
    readonly baseline: number;
    readonly ratio: number;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timeOnce(options: EvaluateOptions): Promise<number> {
    const start = performance.now();
    await evaluateStack(options);
    return performance.now() - start;
}

async function main(): Promise<void> {
    const argv = process.argv.slice(2);
    const quick = argv.includes("--quick");
    const jsonIndex = argv.indexOf("--json");
    const jsonFile = jsonIndex >= 0 ? argv[jsonIndex + 1] : undefined;
    if (jsonIndex >= 0 && !jsonFile) throw new Error("--json needs a file name");
    const runs = quick ? 7 : 31;

    const provider = loadStackConfig("provider");
    const providerEvaluation = await evaluateStack({ stack: "provider", config: provider });
    const tenant = loadStackConfig("tenant");
    const cases: Record<string, EvaluateOptions> = {
        empty: { stack: "provider", config: provider, program: () => ({}) },
        provider: { stack: "provider", config: provider },
        tenant: {
            stack: "tenant",
            config: tenant,
            stackOutputs: { [tenant.values["cdm:providerStack"]]: providerEvaluation },
        },
    };
    const samples: Record<string, number[]> = { empty: [], provider: [], tenant: [] };
    for (const name of Object.keys(cases)) await timeOnce(cases[name]); // warm-up
    for (let i = 0; i < runs; i++) {
        for (const name of Object.keys(cases)) samples[name].push(await timeOnce(cases[name]));
    }
    const baseline = median(samples.empty);
    const scenarios: Scenario[] = ["provider", "tenant"].map((name) => {
        const value = median(samples[name]);
        return {
            name: `evaluate-${name}-stack`,
            metric: `median wall time to evaluate the ${name} sample stack under the mock engine (${runs} runs)`,
            unit: "ms",
            value: round(value),
            baseline: round(baseline),
            ratio: round(value / baseline),
        };
    });
    for (const s of scenarios) {
        console.log(
            `${s.name.padEnd(26)} ${String(s.value).padStart(9)} ${s.unit}  baseline ${s.baseline} ${s.unit}  ratio ${s.ratio}`,
        );
    }
    if (jsonFile) {
        writeFileSync(jsonFile, `${JSON.stringify({ scenarios }, null, 2)}\n`);
        console.log(`wrote ${jsonFile}`);
    }
}

function round(n: number): number {
    return Math.round(n * 1000) / 1000;
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    });
}
