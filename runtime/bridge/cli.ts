/**
 * `cdm-bridge`: the operators' command line for a tenant bridge, over its API (so it needs no
 * database access, only an access token of the tenant realm with the right role).
 *
 *   CDM_BRIDGE_URL=https://bridge.acme.example.com CDM_TOKEN=<access token> [CDM_CA_FILE=root.crt]
 *   cdm-bridge tokens create [--device ID [--reenroll] | --max-uses N] [--ttl SECONDS]
 *   cdm-bridge tokens list [--active]
 *   cdm-bridge tokens revoke TOKEN-ID
 *   cdm-bridge devices list
 *   cdm-bridge devices show ID
 *   cdm-bridge devices decommission ID [--reason TEXT]
 */
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { parseArgs } from "node:util";

/** What a command asks of the API. */
export interface ApiCall {
    readonly method: "GET" | "POST" | "DELETE";
    readonly path: string;
    readonly body?: Record<string, unknown>;
}

/** Turns command-line arguments into an API call; throws with a usage message when they are wrong. */
export function commandCall(argv: readonly string[]): ApiCall {
    const { values, positionals } = parseArgs({
        args: [...argv],
        allowPositionals: true,
        options: {
            device: { type: "string" },
            "max-uses": { type: "string" },
            ttl: { type: "string", default: "86400" },
            reenroll: { type: "boolean", default: false },
            active: { type: "boolean", default: false },
            reason: { type: "string" },
        },
    });
    const [noun, verb, id] = positionals;
    const command = `${noun ?? ""} ${verb ?? ""}`.trim();
    const needId = () => {
        if (!id) throw new Error(`usage: cdm-bridge ${command} ID`);
        return encodeURIComponent(id);
    };
    switch (command) {
        case "tokens create":
            return {
                method: "POST",
                path: "/enrollment-tokens",
                body: {
                    ttl_seconds: Number(values.ttl),
                    ...(values.device ? { device_id: values.device } : {}),
                    ...(values["max-uses"] ? { max_uses: Number(values["max-uses"]) } : {}),
                    ...(values.reenroll ? { reenroll: true } : {}),
                },
            };
        case "tokens list":
            return { method: "GET", path: `/enrollment-tokens?active=${values.active}` };
        case "tokens revoke":
            return { method: "DELETE", path: `/enrollment-tokens/${needId()}` };
        case "devices list":
            return { method: "GET", path: "/devices?limit=1000" };
        case "devices show":
            return { method: "GET", path: `/devices/${needId()}` };
        case "devices decommission":
            return {
                method: "DELETE",
                path: `/devices/${needId()}${values.reason ? `?reason=${encodeURIComponent(values.reason)}` : ""}`,
            };
        default:
            throw new Error(
                "usage: cdm-bridge tokens create|list|revoke … | devices list|show|decommission … (see runtime/bridge/cli.ts)",
            );
    }
}

function send(
    base: string,
    token: string,
    ca: string | undefined,
    call: ApiCall,
): Promise<{ status: number; text: string }> {
    const url = new URL(call.path, base);
    const payload = call.body ? JSON.stringify(call.body) : undefined;
    const send = url.protocol === "https:" ? request : httpRequest;
    return new Promise((resolve, reject) => {
        const req = send(
            url,
            {
                method: call.method,
                ...(ca ? { ca } : {}),
                headers: {
                    authorization: `Bearer ${token}`,
                    ...(payload ? { "content-type": "application/json" } : {}),
                },
            },
            (res) => {
                let text = "";
                res.on("data", (d: Buffer) => (text += d.toString()));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
            },
        );
        req.on("error", reject);
        req.end(payload);
    });
}

async function main(): Promise<number> {
    const base = process.env.CDM_BRIDGE_URL;
    const token = process.env.CDM_TOKEN;
    if (!base || !token) {
        process.stderr.write("CDM_BRIDGE_URL and CDM_TOKEN must be set\n");
        return 2;
    }
    let call: ApiCall;
    try {
        call = commandCall(process.argv.slice(2));
    } catch (error) {
        process.stderr.write(`${(error as Error).message}\n`);
        return 2;
    }
    const ca = process.env.CDM_CA_FILE ? readFileSync(process.env.CDM_CA_FILE, "utf8") : undefined;
    const { status, text } = await send(base, token, ca, call);
    (status < 400 ? process.stdout : process.stderr).write(`${text || `${status}`}\n`);
    return status < 400 ? 0 : 1;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (error: unknown) => {
            process.stderr.write(`cdm-bridge: ${(error as Error).message}\n`);
            process.exit(1);
        },
    );
}
