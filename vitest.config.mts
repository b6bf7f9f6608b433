import { defineConfig } from "vitest/config";

// Three tiers (DESIGN.md §6): unit and graph run in `npm test`; integration needs real peers
// started by scripts/peers/ and runs in `npm run test:integration`.
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
        ],
    },
});
