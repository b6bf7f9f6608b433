/**
 * Runs real step-ca processes for the integration tests, configured by the program's own ca.json
 * generator. Binaries come from scripts/peers/step-ca.sh (built with `go install`, cached).
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProvisionerSpec, renderCaJson } from "../../components/step-ca/ca-json";
import { ProvisionerKey, StepCaClient } from "../../runtime/shared/step-ca";
import { publicJwkFromPem } from "../../components/pki/jwk";
import { ecKey } from "./pki";
import { projectRoot } from "../../tools/stack-config";
import { encryptPrivateKey } from "../../components/pki/encrypted-key";

let binDir: string | undefined;

/** Directory with the `step-ca` and `step` binaries (built on first use). */
export function stepBinaries(): string {
    binDir ??= execFileSync(join(projectRoot, "scripts/peers/step-ca.sh"), ["install"], {
        encoding: "utf8",
    }).trim();
    return binDir;
}

export interface RunningCa {
    readonly url: string;
    readonly client: StepCaClient;
    readonly dir: string;
    readonly log: () => string;
    stop(): Promise<void>;
}

export interface CaSetup {
    /** Root certificate (PEM). */
    readonly rootPem: string;
    /** Signing CA certificate followed by its issuing intermediates (PEMs). */
    readonly bundle: readonly string[];
    /** Signing CA private key (PKCS#8 PEM, unencrypted; stored encrypted like the program does). */
    readonly keyPem: string;
    readonly provisioners: readonly ProvisionerSpec[];
    readonly port: number;
    /** Names besides localhost; the in-cluster Service names in the program. */
    readonly dnsNames?: readonly string[];
}

/** Starts step-ca on 127.0.0.1:`port` and waits until /health answers. */
export async function startStepCa(setup: CaSetup): Promise<RunningCa> {
    const dir = mkdtempSync(join(tmpdir(), "step-ca-"));
    mkdirSync(join(dir, "db"));
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    const files = {
        root: join(dir, "root_ca.crt"),
        bundle: join(dir, "ca_bundle.crt"),
        key: join(dir, "ca_key"),
        password: join(dir, "password"),
        db: join(dir, "db"),
        config: join(dir, "ca.json"),
    };
    writeFileSync(files.root, setup.rootPem);
    writeFileSync(files.bundle, setup.bundle.join(""));
    writeFileSync(files.key, encryptPrivateKey(setup.keyPem, password), { mode: 0o600 });
    writeFileSync(files.password, password, { mode: 0o600 });
    writeFileSync(
        files.config,
        renderCaJson({
            dnsNames: ["localhost", ...(setup.dnsNames ?? [])],
            address: `127.0.0.1:${setup.port}`,
            provisioners: setup.provisioners,
            paths: files,
        }),
    );
    let output = "";
    const child: ChildProcess = spawn(
        join(stepBinaries(), "step-ca"),
        ["--password-file", files.password, files.config],
        {
            stdio: ["ignore", "pipe", "pipe"],
            env: { PATH: process.env.PATH ?? "", HOME: dir, STEPPATH: dir },
        },
    );
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const url = `https://localhost:${setup.port}`;
    const client = new StepCaClient({ url, rootPem: setup.rootPem, timeoutMs: 5000 });
    const deadline = Date.now() + 30_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`step-ca exited ${child.exitCode}:\n${output}`);
        try {
            if (await client.healthy()) break;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`step-ca did not become healthy:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        url,
        client,
        dir,
        log: () => output,
        stop: () =>
            new Promise<void>((resolve) => {
                client.close();
                if (child.exitCode !== null) return resolve();
                child.once("exit", () => resolve());
                child.kill("SIGTERM");
            }),
    };
}

/** A JWK provisioner for a test CA: its ca.json entry and the key its client signs tokens with. */
export async function testProvisioner(
    name: string,
    issues: ProvisionerSpec["issues"],
    claims: ProvisionerSpec["claims"],
): Promise<{ spec: ProvisionerSpec; signer: ProvisionerKey }> {
    const key = await ecKey("P256");
    const jwk = publicJwkFromPem(key.publicPem);
    const spec: ProvisionerSpec = { name, key: jwk, claims, issues };
    const signer: ProvisionerKey = { name, kid: jwk.kid, privateKeyPem: key.privatePem, alg: "ES256" };
    return { spec, signer };
}
