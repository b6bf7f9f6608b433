/**
 * The simulator's command line, checked: every bad flag is named with what it takes, and all of
 * them are reported together. Pure: argv and the environment in, options or errors out.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

export interface SimulatorOptions {
    /** The tenant bridge's base URL (`https://bridge.<tenant>.<domain>`). */
    readonly bridgeUrl: string;
    /** A batch enrollment token with at least `devices` uses left. Never printed. */
    readonly token: string;
    /** The platform root (PEM) the bridge's, the broker's and hawkBit's certificates chain to. */
    readonly rootCaPem?: string;
    readonly devices: number;
    /** Telemetry messages per second per device (cdm-telemetry's default is 1/60). */
    readonly rate: number;
    /** Seconds of telemetry and polling after the last enrollment settled. */
    readonly durationSeconds: number;
    /** Enrollments in flight at once. */
    readonly concurrency: number;
    /** Device ids are `<prefix>-<n>`: a lower-case DNS label, as the bridge requires. */
    readonly prefix: string;
    /** Overrides the answer's `mqtt.url` (a port-forward, a local broker). */
    readonly mqttUrl?: string;
    /** Overrides the answer's `hawkbit.url`. */
    readonly hawkbitUrl?: string;
    readonly mqtt: boolean;
    readonly poll: boolean;
    /** Where to write the summary as JSON too. */
    readonly jsonFile?: string;
}

export const usage = `usage: npm run simulate -- --bridge URL --devices N [options]

  --bridge URL         the tenant bridge (https://, or http:// for a local one)
  --token T            batch enrollment token (better: CDM_ENROLLMENT_TOKEN or --token-file)
  --token-file FILE    read the token from FILE
  --ca FILE            platform root CA (PEM) to trust; default: the system store
  --devices N          simulated devices (1-100000)
  --rate R             telemetry messages per second per device (default 1/60 = 0.0167; 0: none)
  --duration S         seconds of telemetry and polling after enrollment (default 60)
  --concurrency C      enrollments in flight (default 8, at most 256)
  --prefix P           device id prefix (default sim-<random>)
  --mqtt-url URL       use this mqtts:// URL instead of the enrollment answer's
  --hawkbit-url URL    use this hawkBit URL instead of the enrollment answer's
  --no-mqtt, --no-poll skip telemetry or DDI polling
  --json FILE          also write the summary as JSON`;

export class OptionsError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(problems.join("\n"));
    }
}

const flagsWithValue = [
    "--bridge",
    "--token",
    "--token-file",
    "--ca",
    "--devices",
    "--rate",
    "--duration",
    "--concurrency",
    "--prefix",
    "--mqtt-url",
    "--hawkbit-url",
    "--json",
] as const;
const switches = ["--no-mqtt", "--no-poll"] as const;

/** A number of the given kind within [min, max], or a problem naming the flag. */
function numberFlag(
    flag: string,
    raw: string | undefined,
    fallback: number,
    min: number,
    max: number,
    integer: boolean,
    problems: string[],
): number {
    if (raw === undefined) return fallback;
    const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
        problems.push(
            `${flag} takes ${integer ? "a whole number" : "a number"} from ${min} to ${max}, not '${raw}'`,
        );
        return fallback;
    }
    return value;
}

function urlFlag(flag: string, raw: string | undefined, schemes: string[], problems: string[]) {
    if (raw === undefined) return undefined;
    let url: URL | undefined;
    try {
        url = new URL(raw);
    } catch {
        // reported below
    }
    if (!url || !schemes.includes(url.protocol.slice(0, -1)) || !url.hostname) {
        problems.push(`${flag} takes a ${schemes.join(" or ")} URL, not '${raw}'`);
        return undefined;
    }
    return raw.replace(/\/+$/, "");
}

/** Parses `argv` (after the command); `readFile` is injectable for tests. */
export function parseOptions(
    argv: readonly string[],
    env: Readonly<Record<string, string | undefined>>,
    readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): SimulatorOptions {
    const problems: string[] = [];
    const values = new Map<string, string>();
    const set = new Set<string>();
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if ((switches as readonly string[]).includes(arg)) set.add(arg);
        else if ((flagsWithValue as readonly string[]).includes(arg)) {
            const value = argv[i + 1];
            if (value === undefined || value.startsWith("--")) problems.push(`${arg} needs a value`);
            else if (values.has(arg)) problems.push(`${arg} is given twice`);
            else values.set(arg, value);
            if (value !== undefined && !value.startsWith("--")) i++;
        } else problems.push(`unknown argument '${arg}'`);
    }
    const read = (flag: string): string | undefined => {
        const path = values.get(flag);
        if (path === undefined) return undefined;
        try {
            return readFile(path);
        } catch (error) {
            problems.push(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`);
            return undefined;
        }
    };

    const bridgeUrl = urlFlag("--bridge", values.get("--bridge"), ["https", "http"], problems);
    if (!values.has("--bridge")) problems.push("--bridge is required");
    const tokenSources = [values.get("--token"), read("--token-file")?.trim(), env.CDM_ENROLLMENT_TOKEN];
    const token = tokenSources.find((t) => t !== undefined && t !== "");
    if (tokenSources.filter((t) => t !== undefined).length > 1) {
        problems.push("give the token once: --token, --token-file or CDM_ENROLLMENT_TOKEN");
    } else if (!token) {
        problems.push("--token (or --token-file, or CDM_ENROLLMENT_TOKEN) is required");
    } else if (!/^[\x21-\x7e]{8,1024}$/.test(token)) {
        // Not echoed: it is a secret, even when malformed.
        problems.push("--token: the enrollment token must be 8-1024 printable characters without spaces");
    }
    const rootCaPem = read("--ca");
    if (rootCaPem !== undefined && !rootCaPem.includes("-----BEGIN CERTIFICATE-----")) {
        problems.push(`--ca: ${values.get("--ca")} holds no PEM certificate`);
    }
    if (!values.has("--devices")) problems.push("--devices is required");
    const devices = numberFlag("--devices", values.get("--devices"), 1, 1, 100_000, true, problems);
    const rate = numberFlag("--rate", values.get("--rate"), 1 / 60, 0, 1000, false, problems);
    const duration = numberFlag("--duration", values.get("--duration"), 60, 0, 7 * 86_400, false, problems);
    const concurrency = numberFlag("--concurrency", values.get("--concurrency"), 8, 1, 256, true, problems);
    const prefix = values.get("--prefix") ?? `sim-${randomBytes(3).toString("hex")}`;
    // <prefix>-<n> must stay a DNS label of at most 63 characters.
    if (!/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/.test(prefix)) {
        problems.push(
            `--prefix takes lower-case letters, digits and '-' (1-42, no '-' at the ends), not '${prefix}'`,
        );
    }
    const mqttUrl = urlFlag("--mqtt-url", values.get("--mqtt-url"), ["mqtts"], problems);
    const hawkbitUrl = urlFlag("--hawkbit-url", values.get("--hawkbit-url"), ["https", "http"], problems);
    if (problems.length) throw new OptionsError(problems);
    return {
        bridgeUrl: bridgeUrl!,
        token: token!,
        rootCaPem,
        devices,
        rate,
        durationSeconds: duration,
        concurrency,
        prefix,
        mqttUrl,
        hawkbitUrl,
        mqtt: !set.has("--no-mqtt") && rate > 0,
        poll: !set.has("--no-poll"),
        jsonFile: values.get("--json"),
    };
}
