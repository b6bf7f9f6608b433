/**
 * `npm run plan -- [--stack NAME]... [--out DIR]`: evaluates stacks offline under the mock engine
 * (no cluster, no cloud, no Pulumi CLI), prints each resource tree with counts per type, checks
 * every Kubernetes object against the API schemas, and with --out writes them as YAML under
 * DIR/<stack>/. Stacks are Pulumi.<NAME>.yaml files; a tenant's provider stack is evaluated first
 * so its StackReference sees the provider's real outputs. Exit codes: 0 ok, 1 invalid objects or
 * failure, 2 invalid configuration.
 */
import { join } from "node:path";
import { ConfigError } from "../components/config/validate";
import { validateKubeObject } from "./k8s-schema";
import { Evaluation, evaluateStack, printableOutputs } from "./mock-engine";
import { kubeObjects, writeObjects } from "./render";
import { loadStackConfig } from "./stack-config";
import { countByType, formatTree } from "./tree";

interface PlanArgs {
    readonly stacks: string[];
    readonly out?: string;
}

function parseArgs(argv: readonly string[]): PlanArgs {
    const stacks: string[] = [];
    let out: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = argv[i + 1];
        if ((flag === "--stack" || flag === "--out") && (value === undefined || value.startsWith("--"))) {
            throw new UsageError(`${flag} needs a value`);
        }
        if (flag === "--stack") stacks.push(value!);
        else if (flag === "--out") out = value;
        else throw new UsageError(`unknown argument ${flag}`);
        i++;
    }
    return { stacks: stacks.length > 0 ? stacks : ["provider", "tenant"], out };
}

class UsageError extends Error {}

/** Evaluates stacks in dependency order; a tenant's provider stack comes first. */
export async function evaluateWithReferences(
    stack: string,
    done: Map<string, Evaluation>,
): Promise<Evaluation> {
    const cached = done.get(stack);
    if (cached) return cached;
    const config = loadStackConfig(stack);
    const stackOutputs: Record<string, Evaluation> = {};
    const reference = config.values["cdm:providerStack"];
    if (config.values["cdm:role"] === "tenant" && reference) {
        const providerStack = reference.split("/").pop()!;
        const provider = await evaluateWithReferences(providerStack, done);
        stackOutputs[reference] = provider;
    }
    const evaluation = await evaluateStack({ stack, config, stackOutputs });
    done.set(stack, evaluation);
    return evaluation;
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    const done = new Map<string, Evaluation>();
    let invalid = 0;
    for (const stack of args.stacks) {
        const evaluation = await evaluateWithReferences(stack, done);
        const objects = kubeObjects(evaluation.resources);
        console.log(
            `\n=== stack ${stack}: ${evaluation.resources.length} resources, ${objects.length} Kubernetes objects`,
        );
        console.log(formatTree(evaluation.resources).join("\n"));
        console.log("\nresources by type:");
        for (const [type, n] of countByType(evaluation.resources))
            console.log(`  ${String(n).padStart(3)}  ${type}`);
        console.log("\noutputs:");
        for (const [key, value] of Object.entries(printableOutputs(evaluation)))
            console.log(`  ${key}: ${JSON.stringify(value)}`);
        const problems = (await Promise.all(objects.map(validateKubeObject))).flat();
        for (const p of problems) console.error(`schema: ${p}`);
        invalid += problems.length;
        if (args.out) {
            const dir = join(args.out, stack);
            const files = writeObjects(dir, objects);
            console.log(`\nwrote ${files.length} objects to ${dir}/`);
        }
    }
    if (invalid > 0) {
        console.error(`\n${invalid} schema problem(s)`);
        return 1;
    }
    return 0;
}

main().then(
    (code) => process.exit(code),
    (error: unknown) => {
        if (error instanceof ConfigError || error instanceof UsageError) {
            console.error(`plan: ${error.message}`);
            process.exit(2);
        }
        const message = error instanceof Error ? error.message : String(error);
        console.error(`plan: ${message}`);
        if (process.env.CDM_DEBUG) console.error(error);
        process.exit(message.startsWith("invalid stack configuration") ? 2 : 1);
    },
);
