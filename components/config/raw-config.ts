import * as pulumi from "@pulumi/pulumi";
// isConfigSecret is exported by the SDK's runtime config module but not by its typings.
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";

/** The project's config namespace: keys are `cdm:<name>`. */
export const configNamespace = "cdm";

/** Read access to raw config values, so the parsers stay pure and testable with a plain map. */
export interface RawConfig {
    /** The raw string value of `cdm:<key>`, or undefined when unset. */
    get(key: string): string | undefined;
    /** True when `cdm:<key>` was set with `pulumi config set --secret`. */
    isSecret(key: string): boolean;
}

/** Reads the stack's configuration from the Pulumi runtime. */
export function pulumiRawConfig(): RawConfig {
    const config = new pulumi.Config(configNamespace);
    const isConfigSecret = (runtimeConfig as unknown as { isConfigSecret(k: string): boolean })
        .isConfigSecret;
    return {
        get: (key) => config.get(key),
        isSecret: (key) => isConfigSecret(`${configNamespace}:${key}`),
    };
}

/** A RawConfig over a plain map of `cdm:<key>` (or bare `<key>`) values; for tests and tools. */
export function mapRawConfig(values: Record<string, string>, secretKeys: readonly string[] = []): RawConfig {
    const strip = (k: string) =>
        k.startsWith(`${configNamespace}:`) ? k.slice(configNamespace.length + 1) : k;
    const plain = new Map(Object.entries(values).map(([k, v]) => [strip(k), v]));
    const secret = new Set(secretKeys.map(strip));
    return { get: (key) => plain.get(key), isSecret: (key) => secret.has(key) };
}
