/**
 * The HTTP call of the tenant stack's onboarding resources (Sub-CA signing, federation client):
 * JSON over HTTPS to the provider bridge with the platform automation credential as bearer token.
 * Only Node built-ins are required inside, because dynamic providers are serialized with their
 * closure and run in the Pulumi engine's provider host.
 */

/** POSTs or DELETEs JSON to the bridge with the bearer token; resolves the parsed answer. */
export async function callBridge(
    method: "POST" | "DELETE",
    url: string,
    token: string,
    body?: unknown,
): Promise<{ status: number; json: unknown }> {
    if (!token) {
        throw new Error("cdm:onboardingToken is not set: the provider bridge's onboarding API needs it");
    }
    const { request } = require("node:https") as typeof import("node:https");
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
        const req = request(
            url,
            {
                method,
                headers: {
                    authorization: `Bearer ${token}`,
                    ...(payload
                        ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
                        : {}),
                },
                timeout: 30_000,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    let json: unknown = undefined;
                    try {
                        json = text ? JSON.parse(text) : undefined;
                    } catch {
                        json = { message: text.slice(0, 200) };
                    }
                    resolve({ status: res.statusCode ?? 0, json });
                });
            },
        );
        req.on("timeout", () =>
            req.destroy(new Error(`the provider bridge did not answer ${method} ${url}`)),
        );
        req.on("error", reject);
        req.end(payload);
    });
}

/** A refusal's status and the bridge's message, for errors. */
export function refusal(status: number, json: unknown): string {
    return `${status} ${(json as { message?: string } | undefined)?.message ?? "no message"}`;
}
