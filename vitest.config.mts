import { defineConfig } from "vitest/config";

// The tiers (DESIGN.md §6): unit and graph run in `npm test`; integration needs real peers
// started by scripts/peers/ and runs in `npm run test:integration`; engine in `npm run test:engine`.
export default defineConfig({
    test: {
        projects: [
            { test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
            // Each graph file evaluates whole stacks under Pulumi's process-global mocks.
            {
                test: {
                    name: "graph",
                    include: ["tests/graph/**/*.test.ts"],
                    testTimeout: 60_000,
                    hookTimeout: 60_000,
                },
            },
            {
                test: {
                    name: "integration",
                    include: ["tests/integration/**/*.test.ts"],
                    testTimeout: 120_000,
                    hookTimeout: 300_000,
                    fileParallelism: false,
                },
            },
            // Tier 3's API-server half: a real kube-apiserver built by scripts/peers/.
            {
                test: {
                    name: "engine",
                    include: ["tests/engine/**/*.test.ts"],
                    testTimeout: 120_000,
                    hookTimeout: 900_000,
                    fileParallelism: false,
                },
            },
        ],
    },
});
