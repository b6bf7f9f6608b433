/**
 * ThingsBoard's REST API as the bootstrap uses it: JSON in and out, the JWT in
 * `X-Authorization: Bearer …`. An interface, so the bootstrap's decisions are tested with a
 * recording fake; `httpApi` is the real one (fetch).
 */

export type Method = "GET" | "POST" | "PUT" | "DELETE";

/** One answer: status and parsed body (text when not JSON, undefined when empty). */
export interface Answer<T = unknown> {
    readonly status: number;
    readonly body: T;
}

export interface TbApi {
    call<T = any>(
        method: Method,
        path: string,
        options?: { body?: unknown; token?: string },
    ): Promise<Answer<T>>;
}

/** Refused answers become errors naming the step and ThingsBoard's message, never the request. */
export class TbApiError extends Error {
    constructor(
        readonly step: string,
        readonly status: number,
        message: string,
    ) {
        super(`${step}: HTTP ${status}${message ? `: ${message}` : ""}`);
        this.name = "TbApiError";
    }
}

/** The body of a 2xx answer; a TbApiError otherwise. */
export function expectOk<T>(answer: Answer<T>, step: string): T {
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    const message =
        typeof answer.body === "object" && answer.body !== null && "message" in answer.body
            ? String((answer.body as { message: unknown }).message)
            : "";
    throw new TbApiError(step, answer.status, message);
}

/** The real API at `baseUrl`, each request bounded by `timeoutMs`. */
export function httpApi(baseUrl: string, timeoutMs = 30_000): TbApi {
    return {
        async call(method, path, options = {}) {
            const headers: Record<string, string> = { accept: "application/json" };
            if (options.body !== undefined) headers["content-type"] = "application/json";
            if (options.token) headers["x-authorization"] = `Bearer ${options.token}`;
            const res = await fetch(new URL(path, baseUrl), {
                method,
                headers,
                body: options.body === undefined ? undefined : JSON.stringify(options.body),
                signal: AbortSignal.timeout(timeoutMs),
            });
            const text = await res.text();
            let body: unknown = text === "" ? undefined : text;
            try {
                body = text === "" ? undefined : JSON.parse(text);
            } catch {
                // Some answers (the activation link) are plain text.
            }
            return { status: res.status, body: body as any };
        },
    };
}
