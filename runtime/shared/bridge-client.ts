/**
 * GET requests to the tenant bridge with a service token, as the tenant's own services make
 * them (the peer agent, the terminal proxy): over HTTPS, checked against the CA of the bridge's
 * certificate and, when they call the in-cluster Service, the public name that certificate
 * carries. Answers the status and the parsed JSON body.
 */
import { request } from "node:https";

/** How a service reaches the bridge. */
export interface BridgeEndpoint {
    /** The tenant bridge's base URL. */
    readonly url: string;
    /** The service's credential at the bridge. */
    readonly token: string;
    /** The CA the bridge's certificate chains to (PEM); the system's when empty. */
    readonly caPem?: string;
    /** The name the certificate is checked against when it differs from the URL's host. */
    readonly serverName?: string;
}

/** A bridge answer: its status and its JSON body (undefined when not JSON). */
export interface BridgeAnswer<T> {
    readonly status: number;
    readonly body: T | undefined;
}

/** GETs `path` (with its query) from the bridge. Rejects on network errors and timeouts only. */
export function bridgeGet<T>(
    endpoint: BridgeEndpoint,
    path: string,
    options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<BridgeAnswer<T>> {
    return new Promise((resolve, reject) => {
        const req = request(
            new URL(path, endpoint.url),
            {
                headers: { authorization: `Bearer ${endpoint.token}`, accept: "application/json" },
                ...(endpoint.caPem ? { ca: endpoint.caPem } : {}),
                ...(endpoint.serverName ? { servername: endpoint.serverName } : {}),
                timeout: options.timeoutMs,
                signal: options.signal,
            },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (d: string) => (text += d));
                res.on("end", () => {
                    let body: T | undefined;
                    try {
                        body = JSON.parse(text) as T;
                    } catch {
                        body = undefined;
                    }
                    resolve({ status: res.statusCode ?? 0, body });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error("the bridge did not answer in time")));
        req.on("error", reject);
        req.end();
    });
}
