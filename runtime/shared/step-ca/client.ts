import { Agent, request as httpsRequest } from "node:https";

/** An error answer from step-ca, with its HTTP status and message. */
export class StepCaError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(`step-ca answered ${status}: ${message}`);
        this.name = "StepCaError";
    }
}

/** True when step-ca refused a revocation because the certificate is revoked already. */
export function alreadyRevoked(error: unknown): boolean {
    return error instanceof StepCaError && /already revoked/i.test(error.message);
}

/** A signed certificate as step-ca returns it. */
export interface SignResponse {
    /** The new certificate (PEM). */
    readonly certificate: string;
    /** The chain above it, issuer first, root excluded (PEMs). */
    readonly chain: readonly string[];
}

/** Where step-ca is and which root its TLS certificate chains to. */
export interface StepCaClientOptions {
    /** Base URL, for example `https://step-ca.cdm-tenant-acme.svc.cluster.local:9000`. */
    readonly url: string;
    /** The platform root (PEM) that step-ca's own TLS certificate chains to. */
    readonly rootPem: string;
    /** Per-request timeout. */
    readonly timeoutMs?: number;
}

/** Certificate and key for mutual TLS (renewal authenticates with the current certificate). */
export interface ClientIdentity {
    readonly certificatePem: string;
    readonly keyPem: string;
}

/** A small client for the step-ca HTTP API: sign, renew, revoke, health. */
export class StepCaClient {
    /** Connections are kept alive between calls; mutual-TLS calls get connections of their own. */
    private readonly agent: Agent;

    constructor(private readonly options: StepCaClientOptions) {
        this.agent = new Agent({ keepAlive: true, ca: options.rootPem, maxSockets: 16 });
    }

    /** Closes idle connections (for shutdown). */
    close(): void {
        this.agent.destroy();
    }

    /** `POST /1.0/sign`: a certificate for `csrPem`, authorized by a one-time token. */
    async sign(csrPem: string, ott: string, validity?: { notAfter?: string }): Promise<SignResponse> {
        const body = { csr: csrPem, ott, ...(validity?.notAfter ? { notAfter: validity.notAfter } : {}) };
        return toSignResponse(await this.call("POST", "/1.0/sign", body));
    }

    /** `POST /1.0/renew`: a fresh certificate for the identity presented over mutual TLS. */
    async renew(identity: ClientIdentity): Promise<SignResponse> {
        return toSignResponse(await this.call("POST", "/1.0/renew", {}, identity));
    }

    /** `POST /1.0/revoke`: revokes serial `serial` (decimal), authorized by a revoke token. */
    async revoke(serial: string, ott: string, reason: string): Promise<void> {
        await this.call("POST", "/1.0/revoke", { serial, ott, passive: true, reasonCode: 5, reason });
    }

    /** `GET /health`: true when step-ca answers `{"status":"ok"}`. */
    async healthy(): Promise<boolean> {
        const answer = (await this.call("GET", "/health")) as { status?: string };
        return answer.status === "ok";
    }

    private call(method: string, path: string, body?: unknown, identity?: ClientIdentity): Promise<unknown> {
        const url = new URL(path, this.options.url);
        const payload = body === undefined ? undefined : JSON.stringify(body);
        return new Promise((resolve, reject) => {
            const req = httpsRequest(
                url,
                {
                    method,
                    ca: this.options.rootPem,
                    ...(identity ? { cert: identity.certificatePem, key: identity.keyPem } : {}),
                    headers: payload
                        ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
                        : {},
                    timeout: this.options.timeoutMs ?? 10_000,
                    agent: identity ? false : this.agent,
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("end", () => {
                        const text = Buffer.concat(chunks).toString("utf8");
                        const status = res.statusCode ?? 0;
                        let parsed: unknown;
                        try {
                            parsed = text ? JSON.parse(text) : {};
                        } catch {
                            parsed = { message: text.slice(0, 200) };
                        }
                        if (status < 200 || status >= 300) {
                            reject(
                                new StepCaError(
                                    status,
                                    (parsed as { message?: string }).message ?? "no message",
                                ),
                            );
                        } else {
                            resolve(parsed);
                        }
                    });
                },
            );
            req.on("timeout", () =>
                req.destroy(new Error(`step-ca did not answer ${method} ${path} in time`)),
            );
            req.on("error", reject);
            req.end(payload);
        });
    }
}

function toSignResponse(answer: unknown): SignResponse {
    const a = answer as { crt?: string; certChain?: string[]; ca?: string };
    if (!a.crt) {
        throw new StepCaError(502, "sign answer without a certificate");
    }
    const chain = a.certChain && a.certChain.length > 1 ? a.certChain.slice(1) : a.ca ? [a.ca] : [];
    return { certificate: a.crt, chain };
}
