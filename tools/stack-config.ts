/**
 * Reads Pulumi.yaml's config schema and a stack file the way the Pulumi CLI does: project
 * defaults first, the stack's values on top, every value a string. Used by `npm run plan`,
 * the benchmarks and the tests, which run the program without the CLI.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";

/** Repository root (this file lives in tools/). */
export const projectRoot = resolve(__dirname, "..");

/** One key of Pulumi.yaml's `config:` block. */
export interface ConfigKeySchema {
    readonly type: "string" | "integer" | "boolean" | "array";
    readonly description: string;
    readonly default?: string | number | boolean;
    readonly secret?: boolean;
}

/** The project name and its config schema. */
export function readProjectSchema(root = projectRoot): {
    project: string;
    keys: Record<string, ConfigKeySchema>;
} {
    const project = parse(readFileSync(join(root, "Pulumi.yaml"), "utf8")) as {
        name: string;
        config?: Record<string, ConfigKeySchema>;
    };
    return { project: project.name, keys: project.config ?? {} };
}

/** Stack configuration as the SDK sees it: `cdm:key` to string, plus the keys that are secret. */
export interface StackConfigValues {
    readonly values: Record<string, string>;
    readonly secretKeys: string[];
}

/** Placeholder for a value that was encrypted in the stack file; the plan never decrypts. */
export const encryptedPlaceholder = "<<encrypted in stack file>>";

/** Path of the settings file of stack `stack`. */
export function stackFilePath(stack: string, root = projectRoot): string {
    return join(root, `Pulumi.${stack}.yaml`);
}

/**
 * Project defaults overlaid with the stack file's values. Unknown `<project>:` keys and values of
 * the wrong type are refused with a message naming the key, as are missing required keys.
 */
export function loadStackConfig(stack: string, root = projectRoot): StackConfigValues {
    const path = stackFilePath(stack, root);
    if (!existsSync(path)) {
        throw new Error(`stack ${stack}: no settings file ${path}`);
    }
    const file = (parse(readFileSync(path, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    return mergeStackConfig(stack, file.config ?? {}, root);
}

/** Merges a stack's raw `config:` map over the project defaults (see loadStackConfig). */
export function mergeStackConfig(
    stack: string,
    config: Record<string, unknown>,
    root = projectRoot,
): StackConfigValues {
    const { project, keys } = readProjectSchema(root);
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    const problems: string[] = [];
    for (const [key, schema] of Object.entries(keys)) {
        if (schema.default !== undefined) values[`${project}:${key}`] = String(schema.default);
    }
    for (const [fullKey, raw] of Object.entries(config)) {
        const [namespace, key] = fullKey.includes(":") ? fullKey.split(":", 2) : [project, fullKey];
        if (namespace !== project) {
            values[`${namespace}:${key}`] = typeof raw === "string" ? raw : JSON.stringify(raw);
            continue;
        }
        const schema = keys[key];
        if (!schema) {
            const near = Object.keys(keys).find((k) => k.toLowerCase() === key.toLowerCase());
            problems.push(
                `${project}:${key}: is not a setting of this project${near ? ` (did you mean ${project}:${near}?)` : ""}`,
            );
            continue;
        }
        if (typeof raw === "object" && raw !== null && "secure" in raw) {
            values[`${project}:${key}`] = encryptedPlaceholder;
            secretKeys.push(`${project}:${key}`);
            continue;
        }
        // `pulumi config set` writes every value as a string, so "51820" is a valid integer.
        const text = typeof raw === "string" ? raw : undefined;
        const typeOk =
            (schema.type === "string" &&
                (text !== undefined || typeof raw === "number" || typeof raw === "boolean")) ||
            (schema.type === "integer" &&
                (Number.isInteger(raw) || (text !== undefined && /^-?[0-9]+$/.test(text)))) ||
            (schema.type === "boolean" &&
                (typeof raw === "boolean" || text === "true" || text === "false")) ||
            (schema.type === "array" && Array.isArray(raw));
        if (!typeOk) {
            problems.push(`${project}:${key}: must be of type ${schema.type} (got ${JSON.stringify(raw)})`);
            continue;
        }
        values[`${project}:${key}`] = typeof raw === "string" ? raw : JSON.stringify(raw);
    }
    const missing = Object.entries(keys)
        .filter(([key, schema]) => schema.default === undefined && values[`${project}:${key}`] === undefined)
        .map(([key]) => `${project}:${key}`);
    if (missing.length > 0) {
        problems.push(`stack ${stack} is missing required configuration ${missing.join(", ")}`);
    }
    if (problems.length > 0) {
        throw new Error(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    }
    return { values, secretKeys };
}
