/**
 * The terminal proxy's configuration from its environment (docs/terminal.md lists every
 * variable). Read once at start; a bad value exits 2 naming the variable.
 */
import { EnvReader } from "../shared/env";

/** Limits on sessions; every one has a default a tenant may tighten. */
export interface SessionLimits {
    /** Seconds without a frame from the browser before the session ends. */
    readonly idleSeconds: number;
    /** Longest session in seconds; it also never outlives the user's token. */
    readonly maxSessionSeconds: number;
    readonly perUser: number;
    readonly perDevice: number;
    /** Largest WebSocket message accepted from either side, in bytes. */
    readonly maxFrameBytes: number;
    /** Seconds between pings to each side; a side that misses one pong is gone. */
    readonly pingSeconds: number;
}

export interface TerminalProxyConfig {
    readonly port: number;
    readonly managementPort: number;
    readonly tenantId: string;
    readonly oidc: {
        readonly issuer: string;
        readonly jwksUrl?: string;
        readonly audience: string;
        /** The realm role a user needs to open a terminal. */
        readonly role: string;
        /** The realm role that may list and end other users' sessions. */
        readonly adminRole: string;
        readonly clockToleranceSeconds: number;
    };
    readonly bridge: {
        readonly url: string;
        readonly token: string;
        readonly caPem: string;
        readonly serverName?: string;
        /** Seconds a device's address and credential are reused before asking the bridge again. */
        readonly cacheSeconds: number;
    };
    /** Origins browsers may open sessions from; none means any (non-browser clients send none). */
    readonly allowedOrigins: readonly string[];
    readonly limits: SessionLimits;
    /** Directory for asciicast v2 recordings of every session; no recording when undefined. */
    readonly recordingDir?: string;
    /** Seconds live sessions may continue after SIGTERM before they are closed. */
    readonly drainSeconds: number;
}

/** Reads and checks the environment; throws an EnvError naming every bad variable. */
export function readTerminalProxyConfig(
    env: Readonly<Record<string, string | undefined>>,
): TerminalProxyConfig {
    const r = new EnvReader(env);
    const origins = (r.optional("TERMINAL_ALLOWED_ORIGINS") ?? "")
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean);
    for (const origin of origins) {
        r.check("TERMINAL_ALLOWED_ORIGINS", origin, (o) =>
            /^https?:\/\/[a-z0-9.-]+(:[0-9]+)?$/.test(o)
                ? undefined
                : `has "${o}", which is not an origin such as https://things.acme.example.com`,
        );
    }
    const config: TerminalProxyConfig = {
        port: r.integer("TERMINAL_PORT", 8080, 1, 65535),
        managementPort: r.integer("TERMINAL_MANAGEMENT_PORT", 9466, 1, 65535),
        tenantId: r.required("TERMINAL_TENANT_ID", "the tenant whose devices this proxy serves"),
        oidc: {
            issuer: r.url("OIDC_ISSUER", ["https", "http"], "the tenant realm's issuer")!,
            jwksUrl: r.url("OIDC_JWKS_URL", ["https", "http"], "the realm's keys", false),
            audience: r.optional("TERMINAL_AUDIENCE") ?? "terminal-proxy",
            role: r.optional("TERMINAL_ROLE") ?? "device-terminal",
            adminRole: r.optional("TERMINAL_ADMIN_ROLE") ?? "tenant-admin",
            clockToleranceSeconds: r.integer("OIDC_CLOCK_TOLERANCE_SECONDS", 30, 0, 300),
        },
        bridge: {
            url: r.url("BRIDGE_URL", ["https"], "the tenant bridge's URL")!,
            token: r.required("TERMINAL_PROXY_TOKEN", "the proxy's credential at the bridge"),
            caPem: r.file("BRIDGE_CA_FILE", "the CA of the bridge's certificate (PEM)", false) ?? "",
            serverName: r.optional("BRIDGE_TLS_SERVER_NAME"),
            cacheSeconds: r.integer("TERMINAL_DEVICE_CACHE_SECONDS", 10, 0, 300),
        },
        allowedOrigins: origins,
        limits: {
            idleSeconds: r.integer("TERMINAL_IDLE_SECONDS", 900, 10, 86_400),
            maxSessionSeconds: r.integer("TERMINAL_MAX_SESSION_SECONDS", 8 * 3600, 60, 7 * 86_400),
            perUser: r.integer("TERMINAL_MAX_SESSIONS_PER_USER", 5, 1, 1000),
            perDevice: r.integer("TERMINAL_MAX_SESSIONS_PER_DEVICE", 3, 1, 1000),
            maxFrameBytes: r.integer("TERMINAL_MAX_FRAME_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
            pingSeconds: r.integer("TERMINAL_PING_SECONDS", 30, 1, 600),
        },
        recordingDir: r.optional("TERMINAL_RECORDING_DIR"),
        drainSeconds: r.integer("TERMINAL_DRAIN_SECONDS", 30, 0, 3600),
    };
    r.check("TERMINAL_TENANT_ID", config.tenantId, (v) =>
        /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/.test(v)
            ? undefined
            : "must be a tenant id (a DNS label of 40 characters at most)",
    );
    r.done();
    return config;
}
