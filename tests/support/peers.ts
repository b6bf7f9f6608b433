/** Starts the real peers of the integration tests through the repo's scripts in scripts/peers/. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../tools/stack-config";

/** Runs `scripts/peers/<peer>.sh start` and returns the variables of the env file it prints. */
export function startPeer(peer: string): Record<string, string> {
    const envFile = execFileSync(join(projectRoot, "scripts/peers", `${peer}.sh`), ["start"], {
        encoding: "utf8",
    }).trim();
    return Object.fromEntries(
        readFileSync(envFile, "utf8")
            .split("\n")
            .filter((line) => line.includes("="))
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
}

/** Runs `scripts/peers/<peer>.sh stop`. */
export function stopPeer(peer: string): void {
    execFileSync(join(projectRoot, "scripts/peers", `${peer}.sh`), ["stop"], { stdio: "ignore" });
}
