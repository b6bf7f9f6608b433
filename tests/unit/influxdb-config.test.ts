/** The metrics keys of both stacks: InfluxDB's retention and volume size, their defaults and checks. */
import { describe, expect, it } from "vitest";
import { parseProviderConfig } from "../../components/config/provider-config";
import { mapRawConfig } from "../../components/config/raw-config";
import { parseTenantConfig } from "../../components/config/tenant-config";
import { ConfigError } from "../../components/config/validate";
import { mergeStackConfig } from "../../tools/stack-config";
import { sampleConfig } from "../support/stacks";

function raw(stack: "provider" | "tenant", changes: Record<string, unknown> = {}) {
    return mapRawConfig(mergeStackConfig(stack, { ...sampleConfig(stack), ...changes }).values, []);
}

function problemsOf(fn: () => unknown): readonly string[] {
    try {
        fn();
    } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
    }
    throw new Error("expected a ConfigError");
}

describe("metrics configuration", () => {
    it("defaults to 30 days of retention on a 20 GiB volume in both stacks", () => {
        expect(parseProviderConfig(raw("provider")).metrics).toEqual({
            retention: "30d",
            storageSize: "20Gi",
        });
        expect(parseTenantConfig(raw("tenant")).metrics).toEqual({ retention: "30d", storageSize: "20Gi" });
    });

    it("accepts whole hours, days or weeks, and 0 for forever", () => {
        for (const retention of ["1h", "72h", "30d", "8w", "0"]) {
            expect(
                parseTenantConfig(raw("tenant", { "cdm:metricsRetention": retention })).metrics.retention,
            ).toBe(retention);
        }
    });

    it("refuses other retentions and sizes, naming the key and the rule", () => {
        for (const retention of ["30", "30 d", "1.5d", "30m", "-1d", "0d", "forever"]) {
            expect(
                problemsOf(() => parseTenantConfig(raw("tenant", { "cdm:metricsRetention": retention }))),
            ).toEqual([
                `cdm:metricsRetention: "${retention}" is not a retention such as 72h, 30d or 8w (0 keeps forever)`,
            ]);
        }
        expect(
            problemsOf(() => parseProviderConfig(raw("provider", { "cdm:influxdbStorageSize": "lots" }))),
        ).toEqual([`cdm:influxdbStorageSize: "lots" is not a Kubernetes quantity such as 500m, 4 or 10Gi`]);
    });
});
