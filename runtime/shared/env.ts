/**
 * Service configuration from environment variables, validated at start: every problem is
 * collected, each naming its variable, and the service exits non-zero listing them all.
 */
import { readFileSync } from "node:fs";

/** The environment is not acceptable; `problems` name each variable and rule. */
export class EnvError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "EnvError";
    }
}

/**
 * A service's configuration read from `env`; on a bad value, the problems on stderr and exit
 * status 2, the one way every service entry point refuses its configuration.
 */
export function configOrExit<T>(read: (env: NodeJS.ProcessEnv) => T, env = process.env): T {
    try {
        return read(env);
    } catch (error) {
        if (error instanceof EnvError) {
            process.stderr.write(`${error.message}\n`);
            process.exit(2);
        }
        throw error;
    }
}

/** Reads variables from one environment and remembers what is wrong with them. */
export class EnvReader {
    private readonly problems: string[] = [];

    constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

    /** A variable's trimmed value, or undefined when it is unset or empty. */
    optional(name: string): string | undefined {
        const value = this.env[name]?.trim();
        return value ? value : undefined;
    }

    /** A variable that must be set. */
    required(name: string, what: string): string {
        const value = this.optional(name);
        if (value === undefined) this.problem(name, `is required: ${what}`);
        return value ?? "";
    }

    /** One of `choices`, or `fallback` when unset. */
    oneOf<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
        const value = this.optional(name) ?? fallback;
        if (value === undefined || !choices.includes(value as T)) {
            this.problem(name, `must be one of ${choices.join(", ")}, not ${value ?? "unset"}`);
            return choices[0];
        }
        return value as T;
    }

    /** An integer in [min, max], or `fallback` when unset. */
    integer(name: string, fallback: number, min: number, max: number): number {
        const text = this.optional(name);
        if (text === undefined) return fallback;
        const value = /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
        if (!Number.isSafeInteger(value) || value < min || value > max) {
            this.problem(name, `must be an integer in ${min}..${max}, not "${text}"`);
            return fallback;
        }
        return value;
    }

    /** `true`/`false`, or `fallback` when unset. */
    boolean(name: string, fallback: boolean): boolean {
        const text = this.optional(name);
        if (text === undefined) return fallback;
        if (text !== "true" && text !== "false") {
            this.problem(name, `must be true or false, not "${text}"`);
            return fallback;
        }
        return text === "true";
    }

    /** An absolute URL of one of `schemes`. */
    url(name: string, schemes: readonly string[], what: string, required = true): string | undefined {
        const text = required ? this.required(name, what) : this.optional(name);
        if (!text) return undefined;
        try {
            const url = new URL(text);
            if (!schemes.includes(url.protocol.replace(/:$/, ""))) {
                this.problem(name, `must be a ${schemes.join(" or ")} URL, not ${url.protocol}`);
            }
        } catch {
            this.problem(name, `is not a URL: "${text}"`);
        }
        return text;
    }

    /** The content of the file a variable names (certificates, keys); never echoed in problems. */
    file(name: string, what: string, required = true): string | undefined {
        const path = required ? this.required(name, what) : this.optional(name);
        return path ? this.fileAt(name, path) : undefined;
    }

    /** The content of `path`, a file found through variable `name` (a file in a mounted folder). */
    fileAt(name: string, path: string): string {
        try {
            return readFileSync(path, "utf8");
        } catch (error) {
            this.problem(
                name,
                `names a file that cannot be read: ${path} (${(error as NodeJS.ErrnoException).code})`,
            );
            return "";
        }
    }

    /** A value checked by `check`, which returns an error text or undefined. */
    check(name: string, value: string | undefined, check: (v: string) => string | undefined): void {
        if (value === undefined || value === "") return;
        const problem = check(value);
        if (problem) this.problem(name, problem);
    }

    /** Records a problem with `name`. */
    problem(name: string, rule: string): void {
        this.problems.push(`${name} ${rule}`);
    }

    /** Throws an EnvError listing every problem, if any. */
    done(): void {
        if (this.problems.length > 0) throw new EnvError(this.problems);
    }
}
