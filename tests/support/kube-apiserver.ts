/**
 * A real Kubernetes API server with its etcd on loopback (from scripts/peers/kube-apiserver.sh),
 * for the engine tier: a generated service-account key, a static bearer token for the client in
 * `system:masters`, RBAC, and the server's own self-signed serving certificate. There is no
 * controller manager and no kubelet: objects are stored and validated, never run.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../../tools/stack-config";

export interface KubeResponse {
    readonly status: number;
    readonly body: any;
    /** The API server's `Warning` headers (PodSecurity's "would violate" among them). */
    readonly warnings: string[];
}

export interface RunningApiServer {
    readonly url: string;
    readonly version: string;
    /** One call as the test's administrator; `contentType` defaults to JSON. */
    call(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
    stop(): Promise<void>;
}

/** Builds (once) and answers the directory holding `kube-apiserver` and `etcd`. */
export function apiServerBinaries(): string {
    return execFileSync(join(projectRoot, "scripts/peers/kube-apiserver.sh"), ["install"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    }).trim();
}

/** Starts etcd and the API server on loopback ports from `basePort`; resolves once /readyz is ok. */
export async function startApiServer(basePort: number): Promise<RunningApiServer> {
    const bin = apiServerBinaries();
    const dir = mkdtempSync(join(tmpdir(), "kube-apiserver-"));
    const [etcdClient, etcdPeer, securePort] = [basePort, basePort + 1, basePort + 2];
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(join(dir, "sa.key"), privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    writeFileSync(join(dir, "sa.pub"), publicKey.export({ format: "pem", type: "spki" }));
    const token = randomBytes(24).toString("hex");
    writeFileSync(join(dir, "tokens.csv"), `${token},cdm-engine-test,cdm-engine-test,"system:masters"\n`, {
        mode: 0o600,
    });
    const logs: string[] = [];
    const keep = (child: ChildProcess) => {
        child.stdout?.on("data", (d: Buffer) => logs.push(d.toString()));
        child.stderr?.on("data", (d: Buffer) => logs.push(d.toString()));
        return child;
    };
    const etcd = keep(
        spawn(join(bin, "etcd"), [
            "--name=engine",
            `--data-dir=${join(dir, "etcd")}`,
            `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
            `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
            `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
            `--initial-cluster=engine=http://127.0.0.1:${etcdPeer}`,
            "--log-level=warn",
        ]),
    );
    const apiserver = keep(
        spawn(join(bin, "kube-apiserver"), [
            `--etcd-servers=http://127.0.0.1:${etcdClient}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${securePort}`,
            `--cert-dir=${join(dir, "certs")}`,
            `--token-auth-file=${join(dir, "tokens.csv")}`,
            `--service-account-key-file=${join(dir, "sa.pub")}`,
            `--service-account-signing-key-file=${join(dir, "sa.key")}`,
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=RBAC",
            // Only allocated in etcd, never routed: no traffic goes anywhere near it.
            "--service-cluster-ip-range=10.96.0.0/16",
            // Quota admission refuses objects until the quota controller (in the controller
            // manager, absent here) has computed the namespace's usage.
            "--disable-admission-plugins=ResourceQuota",
            "--enable-priority-and-fairness=false",
            "--v=0",
        ]),
    );
    const url = `https://127.0.0.1:${securePort}`;
    let caPem = "";
    const call = (method: string, path: string, body?: unknown, contentType = "application/json") =>
        kubeCall(url, caPem, token, method, path, body, contentType);
    const stop = async () => {
        for (const child of [apiserver, etcd]) {
            if (child.exitCode !== null) continue;
            child.kill("SIGTERM");
            await new Promise((resolve) => child.once("exit", resolve));
        }
        rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 120_000;
    for (;;) {
        if (apiserver.exitCode !== null || etcd.exitCode !== null || Date.now() > deadline) {
            await stop();
            throw new Error(`the API server did not become ready:\n${logs.join("").slice(-4000)}`);
        }
        try {
            // The server's self-signed serving certificate, written at start, is the trust anchor.
            caPem ||= readFileSync(join(dir, "certs", "apiserver.crt"), "utf8");
            const ready = await call("GET", "/readyz");
            if (ready.status === 200) break;
        } catch {
            // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const version = (await call("GET", "/version")).body.gitVersion as string;
    return { url, version, call, stop };
}

function kubeCall(
    url: string,
    caPem: string,
    token: string,
    method: string,
    path: string,
    body: unknown,
    contentType: string,
): Promise<KubeResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
        const req = httpsRequest(
            `${url}${path}`,
            {
                method,
                ca: caPem,
                agent: false,
                headers: {
                    authorization: `Bearer ${token}`,
                    accept: "application/json",
                    ...(payload ? { "content-type": contentType } : {}),
                },
            },
            (res) => {
                let text = "";
                res.on("data", (d: Buffer) => (text += d.toString()));
                res.on("end", () => {
                    const warning = res.headers.warning;
                    let parsed: unknown = text;
                    try {
                        parsed = text ? JSON.parse(text) : undefined;
                    } catch {
                        // plain text (health endpoints)
                    }
                    resolve({
                        status: res.statusCode ?? 0,
                        body: parsed,
                        warnings: warning === undefined ? [] : Array.isArray(warning) ? warning : [warning],
                    });
                });
            },
        );
        req.on("error", reject);
        req.end(payload);
    });
}
