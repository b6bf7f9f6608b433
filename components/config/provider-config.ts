import { CommonConfig, parseCommon, parseRole } from "./common-config";
import { pulumiRawConfig, RawConfig } from "./raw-config";
import { Problems } from "./validate";

/** The validated configuration of the provider stack. */
export interface ProviderConfig extends CommonConfig {
    readonly role: "provider";
}

/** Keys that only a tenant stack may set (they have no default, so any value was set on purpose). */
const tenantOnlyKeys = ["tenantId", "providerStack"];

/** Parses and validates the provider stack's configuration; throws ConfigError listing every problem. */
export function parseProviderConfig(raw: RawConfig): ProviderConfig {
    const problems = new Problems();
    const role = parseRole(raw, problems);
    if (role !== undefined && role !== "provider") {
        problems.add("cdm:role", `is "${role}", but a provider configuration was requested`);
    }
    for (const key of tenantOnlyKeys) {
        if ((raw.get(key) ?? "") !== "") {
            problems.add(`cdm:${key}`, "applies to tenant stacks only; remove it from the provider stack");
        }
    }
    const common = parseCommon(raw, "provider", "cdm-provider", problems);
    problems.throwIfAny();
    return { ...common, role: "provider" };
}

/** Reads the provider stack's configuration from the Pulumi runtime. */
export function loadProviderConfig(): ProviderConfig {
    return parseProviderConfig(pulumiRawConfig());
}
