import { TenantBridgeConfig } from "../config";
import { LifecycleDeps } from "../enrollment";
import { BridgeMetrics } from "../metrics";
import { ServiceCredentials, TokenVerifier } from "../auth";

/** What the tenant bridge's routes share. */
export interface TenantRoutes {
    readonly deps: LifecycleDeps;
    readonly tenant: TenantBridgeConfig;
    /** The platform root (PEM), handed to devices and used to check their certificates. */
    readonly rootPem: string;
    readonly verify: TokenVerifier;
    /** Tokens of ThingsBoard's logins (any audience; the mapper checks the client). */
    readonly verifyLogin: TokenVerifier;
    readonly services: ServiceCredentials;
    readonly metrics: BridgeMetrics;
    /** Aborted when the bridge shuts down: long polls answer at once. */
    readonly shutdown: AbortSignal;
}

/** Roles that may read the fleet, roles that may change it, and the role that administers the tenant. */
export const readers = ["tenant-admin", "operator", "viewer"] as const;
export const operators = ["tenant-admin", "operator"] as const;
export const admins = ["tenant-admin"] as const;

/** JSON schema pieces reused by the routes. */
export const schemas = {
    deviceId: { type: "string", minLength: 1, maxLength: 63 },
    error: {
        type: "object",
        required: ["error", "message"],
        properties: { error: { type: "string" }, message: { type: "string" } },
    },
    device: {
        type: "object",
        properties: {
            id: { type: "string" },
            status: { type: "string", enum: ["enrolled"] },
            wireguardAddress: { type: "string" },
            wireguardPublicKey: { type: "string" },
            keyAlgorithm: { type: "string" },
            certificateSerial: { type: "string" },
            certificateNotAfter: { type: "string", format: "date-time" },
            enrolledAt: { type: "string", format: "date-time" },
            renewedAt: { type: ["string", "null"], format: "date-time" },
            firstConnectedAt: { type: ["string", "null"], format: "date-time" },
            lastConnectedAt: { type: ["string", "null"], format: "date-time" },
        },
    },
} as const;

/** The error answers a route documents, by status. */
export function errorResponses(...statuses: number[]): Record<number, typeof schemas.error> {
    return Object.fromEntries(statuses.map((s) => [s, schemas.error]));
}
