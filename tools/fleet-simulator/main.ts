/**
 * `npm run simulate -- --bridge URL --devices N [--rate R] [--duration S] …`: a fleet of simulated
 * devices against a tenant platform (see docs/device.md, "The fleet simulator"). The enrollment
 * token comes best from CDM_ENROLLMENT_TOKEN or --token-file: a command line is visible to other
 * users of the machine. Neither it nor any device secret is ever printed.
 *
 * Exit status: 0 every device enrolled; 1 some did not; 2 bad options.
 */
import { writeFileSync } from "node:fs";
import { EnrolledDevice, runFleet } from "./fleet";
import { OptionsError, parseOptions, SimulatorOptions, usage } from "./options";
import { startProgress } from "./progress";
import { FleetStats, formatSummary, summarize } from "./summary";

async function main(): Promise<number> {
    const argv = process.argv.slice(2);
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(usage);
        return 0;
    }
    let options: SimulatorOptions;
    try {
        options = parseOptions(argv, process.env);
    } catch (error) {
        if (!(error instanceof OptionsError)) throw error;
        console.error(`${error.problems.map((p) => `simulate: ${p}`).join("\n")}\n\n${usage}`);
        return 2;
    }
    console.log(
        `simulating ${options.devices} devices (${options.prefix}-NNNN) against ${options.bridgeUrl}: ` +
            `${options.mqtt ? `${options.rate} msg/s each` : "no telemetry"}, ${options.poll ? "DDI polling" : "no polling"}, ` +
            `${options.durationSeconds} s after enrollment, ${options.concurrency} enrollments in flight`,
    );
    const stats = new FleetStats();
    const progress = startProgress(stats, options.devices, process.stdout);
    let devices: EnrolledDevice[] = [];
    try {
        devices = await runFleet(options, stats);
    } finally {
        progress.stop();
    }
    const summary = summarize(stats, options.devices);
    console.log(formatSummary(summary).join("\n"));
    // The file also names each enrolled device and its address (nothing secret).
    if (options.jsonFile)
        writeFileSync(
            options.jsonFile,
            `${JSON.stringify({ ...summary, enrolledDevices: devices }, null, 2)}\n`,
        );
    return summary.enrolled === options.devices ? 0 : 1;
}

main().then(
    (status) => process.exit(status),
    (error: unknown) => {
        console.error(`simulate: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    },
);
