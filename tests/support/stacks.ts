/**
 * Shared harness of the graph tests: evaluate a sample stack (optionally with config changes)
 * under the mock engine, and find what it registered.
 */
import { Evaluation, evaluateStack, RecordedResource } from "../../tools/mock-engine";
import { mergeStackConfig, projectRoot } from "../../tools/stack-config";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

/** The `config:` map of a sample stack file. */
export function sampleConfig(stack: "provider" | "tenant"): Record<string, unknown> {
    return (
        parse(readFileSync(join(projectRoot, `Pulumi.${stack}.yaml`), "utf8")) as {
            config: Record<string, unknown>;
        }
    ).config;
}

/** Evaluates the provider sample stack with `changes` applied to its config. */
export async function evaluateProvider(
    changes: Record<string, unknown> = {},
    secretKeys: string[] = [],
): Promise<Evaluation> {
    const config = mergeStackConfig("provider", { ...sampleConfig("provider"), ...changes });
    return evaluateStack({ stack: "provider", config: { values: config.values, secretKeys } });
}

/**
 * Evaluates a tenant stack (the `acme` sample with `changes`) against the provider sample's real
 * outputs, as `npm run plan` does.
 */
export async function evaluateTenant(
    changes: Record<string, unknown> = {},
    secretKeys: string[] = [],
): Promise<Evaluation> {
    const provider = await evaluateProvider();
    const config = mergeStackConfig("tenant", { ...sampleConfig("tenant"), ...changes });
    return evaluateStack({
        stack: "tenant",
        config: { values: config.values, secretKeys },
        stackOutputs: { [config.values["cdm:providerStack"]]: provider },
    });
}

/** Resources of a type. */
export function ofType(evaluation: Evaluation, type: string): RecordedResource[] {
    return evaluation.resources.filter((r) => r.type === type);
}

/** The one resource of a type and logical name; throws when absent. */
export function find(evaluation: Evaluation, type: string, name: string): RecordedResource {
    const found = evaluation.resources.find((r) => r.type === type && r.name === name);
    if (!found) {
        throw new Error(
            `no ${type} named ${name}; have ${evaluation.resources.map((r) => r.name).join(", ")}`,
        );
    }
    return found;
}

/** The Kubernetes object of a kind and metadata.name. */
export function kubeObject(evaluation: Evaluation, kind: string, name: string): Record<string, any> {
    const found = evaluation.resources.find(
        (r) => r.inputs?.kind === kind && r.inputs?.metadata?.name === name,
    );
    if (!found) throw new Error(`no ${kind} ${name}`);
    return found.inputs;
}

/** Pod templates of every workload (Deployment, StatefulSet, Job) with the object's name. */
export function podTemplates(
    evaluation: Evaluation,
): { kind: string; name: string; template: Record<string, any> }[] {
    return evaluation.resources
        .filter((r) => ["Deployment", "StatefulSet", "Job"].includes(r.inputs?.kind))
        .map((r) => ({
            kind: r.inputs.kind,
            name: r.inputs.metadata.name,
            template: r.inputs.spec.template,
        }));
}
