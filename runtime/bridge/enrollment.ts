import { randomBytes } from "node:crypto";
import { isWireguardKey } from "./config";
import { AddressPool } from "./addresses";
import { Database } from "./db/database";
import { DeviceCertificate } from "./device-certificates";
import { checkDeviceCsr, CsrPolicy, isDeviceId } from "./device-csr";
import { findDevice, lockDeviceId } from "./devices";
import { checkToken, consumeToken } from "./enrollment-tokens";
import { ApiError, callPeer } from "./errors";
import { PeerFeed } from "./peer-feed";
import { undo } from "./pending-undo";

/** Signs and revokes device certificates (DeviceCertificates, at the tenant step-ca). */
export interface DeviceSigner {
    sign(csrPem: string, deviceId: string): Promise<DeviceCertificate>;
    revoke(serialNumberHex: string, reason: string): Promise<void>;
}

/** The OTA server's targets (hawkBit's management API). */
export interface OtaTargets {
    /** Creates the target with this token, or sets the token of the existing one. */
    ensureTarget(controllerId: string, name: string, securityToken: string): Promise<"created" | "updated">;
    /** Deletes the target; false when there was none. */
    deleteTarget(controllerId: string): Promise<boolean>;
}

/** Where failures that need an operator's eye are reported (a pino logger fits). */
export interface Warnings {
    warn(details: Record<string, unknown>, message: string): void;
}

/** What the device lifecycle needs; one per tenant bridge. */
export interface LifecycleDeps {
    readonly db: Database;
    readonly addresses: AddressPool;
    readonly signer: DeviceSigner;
    readonly targets: OtaTargets;
    readonly feed: PeerFeed;
    readonly csrPolicy: CsrPolicy;
    readonly log: Warnings;
}

/** `POST /devices/{id}/enroll`. */
export interface EnrollmentRequest {
    readonly deviceId: string;
    readonly csrPem: string;
    readonly wireguardPublicKey: string;
    readonly enrollmentToken: string;
}

/** An enrolled device's new credentials and settings. */
export interface Enrolled {
    readonly deviceId: string;
    readonly certificate: DeviceCertificate;
    readonly wireguardAddress: string;
    readonly otaToken: string;
    /** True when the device was enrolled before (its address was kept). */
    readonly reenrolled: boolean;
}

/** Checks what can be checked without the database; throws ApiError/CsrRefused. */
export async function checkEnrollmentRequest(request: EnrollmentRequest, policy: CsrPolicy): Promise<string> {
    if (!isDeviceId(request.deviceId)) {
        throw new ApiError(
            400,
            "invalid_device_id",
            "the device id must be 3 to 63 lower-case letters, digits or hyphens, starting and ending with a letter or digit",
        );
    }
    if (!isWireguardKey(request.wireguardPublicKey)) {
        throw new ApiError(
            400,
            "invalid_wireguard_key",
            "wireguard_public_key must be a base64 Curve25519 public key",
        );
    }
    return (await checkDeviceCsr(request.csrPem, request.deviceId, policy)).algorithm;
}

/**
 * Enrolls a device in one transaction: the token's use, the address, the device row, its
 * certificate record, the audit event and the peer-feed entry commit together or not at all.
 * What happens outside the database (the certificate at step-ca, the hawkBit target) is undone
 * when the transaction fails: the certificate is revoked and a target made here is deleted. So a
 * failed enrollment leaves nothing behind, and a retry with the same token and CSR succeeds.
 */
export async function enroll(deps: LifecycleDeps, request: EnrollmentRequest): Promise<Enrolled> {
    const keyAlgorithm = await checkEnrollmentRequest(request, deps.csrPolicy);
    const { deviceId } = request;
    let issued: DeviceCertificate | undefined;
    let targetCreated = false;
    let superseded: string[] = [];
    let enrolled: Enrolled;
    try {
        enrolled = await deps.db.transaction(async (tx) => {
            await lockDeviceId(tx, deviceId);
            const token = await checkToken(tx, request.enrollmentToken, deviceId);
            const existing = await findDevice(tx, deviceId, true);
            if (existing && !token.reenroll) {
                throw new ApiError(
                    409,
                    "already_enrolled",
                    `device ${deviceId} is already enrolled; re-enrolling needs a token that allows it`,
                );
            }
            const address = await deps.addresses.allocate(tx, deviceId);
            issued = await callPeer("step-ca", () => deps.signer.sign(request.csrPem, deviceId));
            // A new OTA token every time: after a re-enrollment the unit it replaced cannot poll as it.
            const otaToken = randomBytes(24).toString("base64url");
            targetCreated =
                (await callPeer("hawkBit", () => deps.targets.ensureTarget(deviceId, deviceId, otaToken))) ===
                "created";
            await consumeToken(tx, request.enrollmentToken, deviceId);
            // The certificates of the unit a re-enrollment replaces stop here; step-ca hears of it
            // after commit (retried until it does).
            superseded = (
                await tx.query<{ serial: string }>(
                    `UPDATE device_certificates SET revoked_at = now()
                     WHERE device_id = $1 AND revoked_at IS NULL AND not_after > now() RETURNING serial`,
                    [deviceId],
                )
            ).rows.map((r) => r.serial);
            // One statement for the device, its certificate record and the audit event.
            await tx
                .query(
                    `WITH device AS (
                         INSERT INTO devices (id, wireguard_public_key, key_algorithm, certificate_serial,
                                              certificate_not_after, ota_token, enrollment_token_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (id) DO UPDATE SET wireguard_public_key = $2, key_algorithm = $3,
                             certificate_serial = $4, certificate_not_after = $5, ota_token = $6,
                             enrollment_token_id = $7, enrolled_at = now(), renewed_at = NULL
                         RETURNING id),
                     certificate AS (
                         INSERT INTO device_certificates (serial, device_id, not_after) VALUES ($4, $1, $5))
                     INSERT INTO device_events (device_id, kind, actor, details) SELECT id, $8, $9, $10 FROM device`,
                    [
                        deviceId,
                        request.wireguardPublicKey,
                        keyAlgorithm,
                        issued.serialNumber,
                        issued.notAfter,
                        otaToken,
                        token.id,
                        existing ? "re-enrolled" : "enrolled",
                        `enrollment-token:${token.id}`,
                        JSON.stringify({ address, serial: issued.serialNumber, keyAlgorithm }),
                    ],
                )
                .catch((error: unknown) => {
                    throw isUniqueViolation(error, "devices_wireguard_public_key_key")
                        ? new ApiError(
                              409,
                              "wireguard_key_in_use",
                              "wireguard_public_key belongs to another device",
                          )
                        : error;
                });
            if (existing && existing.wireguardPublicKey !== request.wireguardPublicKey) {
                await deps.feed.append(tx, "remove", {
                    deviceId,
                    publicKey: existing.wireguardPublicKey,
                    address,
                });
            }
            if (!existing || existing.wireguardPublicKey !== request.wireguardPublicKey) {
                await deps.feed.append(tx, "add", {
                    deviceId,
                    publicKey: request.wireguardPublicKey,
                    address,
                });
            }
            return {
                deviceId,
                certificate: issued,
                wireguardAddress: address,
                otaToken,
                reenrolled: existing !== undefined,
            };
        });
    } catch (error) {
        await undoOutside(deps, deviceId, issued, targetCreated);
        throw error;
    } finally {
        deps.feed.notify();
    }
    for (const serial of superseded) {
        await undo(deps, { kind: "revoke-certificate", subject: serial, reason: "device re-enrolled" });
    }
    return enrolled;
}

/**
 * Undoes a failed enrollment's effects outside the database, now or, failing that, later. It
 * never throws: the enrollment's own error is what the caller answers.
 */
async function undoOutside(
    deps: LifecycleDeps,
    deviceId: string,
    issued: DeviceCertificate | undefined,
    targetCreated: boolean,
): Promise<void> {
    const steps = [
        ...(issued
            ? [
                  {
                      kind: "revoke-certificate" as const,
                      subject: issued.serialNumber,
                      reason: "enrollment rolled back",
                  },
              ]
            : []),
        ...(targetCreated
            ? [{ kind: "delete-ota-target" as const, subject: deviceId, reason: "enrollment rolled back" }]
            : []),
    ];
    for (const step of steps) {
        await undo(deps, step).catch((error: unknown) =>
            deps.log.warn({ ...step, error: String(error) }, "an undo step was neither done nor recorded"),
        );
    }
}

/** True for PostgreSQL's unique violation (23505) of `constraint`, from `pg` or PGlite. */
function isUniqueViolation(error: unknown, constraint: string): boolean {
    const e = error as { code?: string; constraint?: string };
    return e?.code === "23505" && e.constraint === constraint;
}
