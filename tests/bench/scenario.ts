/** Shared shape and statistics of the benchmarks. */

/** One benchmark result in the shared JSON format (DESIGN.md §7). */
export interface Scenario {
    readonly name: string;
    readonly metric: string;
    readonly unit: string;
    readonly value: number;
    readonly baseline: number;
    readonly ratio: number;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds to three decimals for the report. */
export function round(n: number): number {
    return Math.round(n * 1000) / 1000;
}

/** A scenario from a measured value and its baseline. */
export function scenario(
    name: string,
    metric: string,
    unit: string,
    value: number,
    baseline: number,
): Scenario {
    return {
        name,
        metric,
        unit,
        value: round(value),
        baseline: round(baseline),
        ratio: round(value / baseline),
    };
}
