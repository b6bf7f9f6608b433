/**
 * How long the program takes to evaluate each stack under the mock engine, as a ratio against
 * evaluating an empty program in the same run: the figure is what the platform's own code costs.
 * Runs are interleaved so machine noise spreads evenly; the median is reported.
 */
import { performance } from "node:perf_hooks";
import { EvaluateOptions, evaluateStack } from "../../tools/mock-engine";
import { loadStackConfig } from "../../tools/stack-config";
import { median, Scenario, scenario } from "./scenario";

async function timeOnce(options: EvaluateOptions): Promise<number> {
    const start = performance.now();
    await evaluateStack(options);
    return performance.now() - start;
}

export async function stackEvaluation(quick: boolean): Promise<Scenario[]> {
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
    return ["provider", "tenant"].map((name) =>
        scenario(
            `evaluate-${name}-stack`,
            `median wall time to evaluate the ${name} sample stack under the mock engine, against an empty program (${runs} runs)`,
            "ms",
            median(samples[name]),
            median(samples.empty),
        ),
    );
}
