import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findCopies } from "../../tools/check-deps";
import { configTable, withConfigTable } from "../../tools/config-table";
import { median } from "../bench/scenario";
import { projectRoot, readProjectSchema } from "../../tools/stack-config";

describe("README config table", () => {
    it("lists every key of Pulumi.yaml and is up to date (npm run docs:config)", () => {
        const readme = readFileSync(join(projectRoot, "README.md"), "utf8");
        expect(withConfigTable(readme)).toBe(readme);
        const { keys } = readProjectSchema();
        for (const key of Object.keys(keys)) expect(configTable()).toContain(`| \`cdm:${key}\` |`);
        expect(configTable()).toContain('| `cdm:tenantId` | string | `""` | tenant |');
        expect(configTable()).toContain("| `cdm:role` | string | *(required)* | both |");
    });
});

describe("dependency check", () => {
    it("finds nested copies of a package", () => {
        const root = mkdtempSync(join(tmpdir(), "deps-"));
        const write = (dir: string, version: string) => {
            mkdirSync(dir, { recursive: true });
            writeFileSync(join(dir, "package.json"), JSON.stringify({ version }));
        };
        write(join(root, "node_modules/@pulumi/pulumi"), "3.1.0");
        write(join(root, "node_modules/@pulumi/aws/node_modules/@pulumi/pulumi"), "3.0.0");
        write(join(root, "node_modules/other"), "1.0.0");
        expect(
            findCopies(root, "@pulumi/pulumi")
                .map((c) => c.replace(root, ""))
                .sort(),
        ).toEqual([
            "/node_modules/@pulumi/aws/node_modules/@pulumi/pulumi@3.0.0",
            "/node_modules/@pulumi/pulumi@3.1.0",
        ]);
    });
});

describe("bench statistics", () => {
    it("takes the median", () => {
        expect(median([3, 1, 2])).toBe(2);
        expect(median([4, 1, 3, 2])).toBe(2.5);
    });
});
