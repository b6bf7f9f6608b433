/**
 * Device certificates signed per second through the runtime library (token + sign) against a
 * real step-ca, as a ratio against step-ca's own client signing the same way in the same run:
 * `step ca sign` with a pre-made token, one process per certificate as operators and scripts use
 * it. A second baseline is the bare HTTP call with pre-made tokens, which isolates the cost the
 * library adds (token creation, chain handling). CSRs are made beforehand, outside the timing.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { publicJwkFromPem } from "../../components/pki/jwk";
import { intermediateProfile, rootProfile, subCaProfile, deviceClaims } from "../../components/pki/profile";
import { createToken, ProvisionerKey } from "../../runtime/shared/step-ca";
import { projectRoot } from "../../tools/stack-config";
import { csr, ecKey, intermediateCa, rootCa } from "../support/pki";
import { startStepCa } from "../support/step-ca";
import { Scenario, scenario } from "./scenario";

/** True when the step binaries are already built (the build is not part of a quick run). */
export function stepBinariesCached(): boolean {
    const dir = execFileSync(join(projectRoot, "scripts/peers/step-ca.sh"), ["path"], {
        encoding: "utf8",
    }).trim();
    return existsSync(join(dir, "step-ca")) && existsSync(join(dir, "step"));
}

export async function stepCaSigning(quick: boolean): Promise<Scenario[]> {
    const count = quick ? 40 : 300;
    const root = await rootCa(rootProfile);
    const ica = await intermediateCa(intermediateProfile, root);
    const sub = await intermediateCa(subCaProfile("bench"), ica);
    const key = await ecKey();
    const jwk = publicJwkFromPem(key.publicPem);
    const signer: ProvisionerKey = {
        name: "bridge",
        kid: jwk.kid,
        privateKeyPem: key.privatePem,
        alg: "ES256",
    };
    const port = 19600 + Math.floor(Math.random() * 300);
    const ca = await startStepCa({
        rootPem: root.pem,
        bundle: [sub.pem, ica.pem],
        keyPem: sub.key.privatePem,
        provisioners: [{ name: "bridge", key: jwk, claims: deviceClaims("24h", "720h"), issues: "device" }],
        port,
    });
    try {
        const deviceKey = await ecKey();
        const warmUp = 20;
        const csrs = await Promise.all(
            Array.from({ length: count * 3 + warmUp }, (_, i) => csr(deviceKey, `bench-${i}`)),
        );
        let next = 0;

        // Warm-up, not timed: connections, step-ca's database and both code paths.
        for (let i = 0; i < warmUp; i++, next++) {
            const token = await createToken(signer, { caDnsName: "localhost", subject: `bench-${next}` });
            await (i % 2 ? ca.client.sign(csrs[next], token) : rawSign(port, root.pem, csrs[next], token));
        }

        // The library: a fresh token and a sign call per certificate.
        let start = performance.now();
        for (let i = 0; i < count; i++, next++) {
            const token = await createToken(signer, { caDnsName: "localhost", subject: `bench-${next}` });
            await ca.client.sign(csrs[next], token);
        }
        const library = count / ((performance.now() - start) / 1000);

        // Bare HTTP with tokens made beforehand.
        const tokens = await Promise.all(
            Array.from({ length: count }, (_, i) =>
                createToken(signer, { caDnsName: "localhost", subject: `bench-${next + i}` }),
            ),
        );
        start = performance.now();
        for (let i = 0; i < count; i++, next++) {
            await rawSign(port, root.pem, csrs[next], tokens[i]);
        }
        const raw = count / ((performance.now() - start) / 1000);

        // step ca sign, one process per certificate, tokens made beforehand.
        const dir = mkdtempSync(join(tmpdir(), "bench-step-"));
        writeFileSync(join(dir, "root.crt"), root.pem);
        const cliTokens = await Promise.all(
            Array.from({ length: count }, (_, i) =>
                createToken(signer, { caDnsName: "localhost", subject: `bench-${next + i}` }),
            ),
        );
        const stepBin = join(
            execFileSync(join(projectRoot, "scripts/peers/step-ca.sh"), ["install"], {
                encoding: "utf8",
            }).trim(),
            "step",
        );
        start = performance.now();
        for (let i = 0; i < count; i++, next++) {
            const csrFile = join(dir, `${i}.csr`);
            writeFileSync(csrFile, csrs[next]);
            const r = spawnSync(
                stepBin,
                [
                    "ca",
                    "sign",
                    csrFile,
                    join(dir, `${i}.crt`),
                    "--token",
                    cliTokens[i],
                    "--ca-url",
                    ca.url,
                    "--root",
                    join(dir, "root.crt"),
                ],
                { env: { PATH: process.env.PATH ?? "", HOME: dir, STEPPATH: dir }, encoding: "utf8" },
            );
            if (r.status !== 0) throw new Error(`step ca sign failed: ${r.stderr}`);
        }
        const cli = count / ((performance.now() - start) / 1000);
        return [
            scenario(
                "step-ca-sign-library-vs-raw-http",
                `device certificates signed per second through the runtime library, against bare HTTP calls with pre-made tokens (${count} each)`,
                "certs/s",
                library,
                raw,
            ),
            scenario(
                "step-ca-sign-library-vs-step-cli",
                `device certificates signed per second through the runtime library, against \`step ca sign\` (${count} each, sequential)`,
                "certs/s",
                library,
                cli,
            ),
        ];
    } finally {
        rawAgent.destroy();
        await ca.stop();
    }
}

/** Keep-alive, like the library's client: the baseline is the best a bare client does. */
const rawAgent = new Agent({ keepAlive: true, maxSockets: 1 });

function rawSign(port: number, rootPem: string, csrPem: string, ott: string): Promise<void> {
    const body = JSON.stringify({ csr: csrPem, ott });
    return new Promise((resolve, reject) => {
        const req = request(
            {
                host: "localhost",
                port,
                path: "/1.0/sign",
                method: "POST",
                ca: rootPem,
                agent: rawAgent,
                headers: { "content-type": "application/json" },
            },
            (res) => {
                res.resume();
                res.on("end", () =>
                    res.statusCode === 201 ? resolve() : reject(new Error(`sign answered ${res.statusCode}`)),
                );
            },
        );
        req.on("error", reject);
        req.end(body);
    });
}
