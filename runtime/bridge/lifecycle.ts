import { verifyChain } from "../shared/step-ca";
import { x509 } from "../shared/x509";
import { DeviceCertificate } from "./device-certificates";
import { checkDeviceCsr } from "./device-csr";
import { deviceView, DeviceView, findDevice, lockDeviceId, recordEvent } from "./devices";
import { LifecycleDeps } from "./enrollment";
import { ApiError, callPeer } from "./errors";
import { revokeOnce, undo } from "./pending-undo";

/** The certificate a device presented over mutual TLS, and the CAs it must chain to. */
export interface PresentedCertificate {
    /** DER of the client certificate, or undefined when the device presented none. */
    readonly der?: Buffer;
    /** The certificates the device sent above its own (DER); only the root and Sub-CA are trusted. */
    readonly intermediates: readonly Buffer[];
    readonly rootPem: string;
    readonly subCaPem: string;
}

/**
 * Renews a device's certificate. The device proves itself with its current certificate over
 * mutual TLS: it must chain to the tenant's Sub-CA, be valid now, name this device, and be a
 * certificate the bridge issued to it and has not revoked. The new request may carry a new key.
 */
export async function renew(
    deps: LifecycleDeps,
    deviceId: string,
    csrPem: string,
    presented: PresentedCertificate,
): Promise<DeviceCertificate> {
    const serial = await authenticateDevice(deviceId, presented);
    const keyAlgorithm = (await checkDeviceCsr(csrPem, deviceId, deps.csrPolicy)).algorithm;
    let issued: DeviceCertificate | undefined;
    try {
        return await deps.db.transaction(async (tx) => {
            await lockDeviceId(tx, deviceId);
            const { rows } = await tx.query(
                "SELECT 1 FROM device_certificates WHERE serial = $1 AND device_id = $2 AND revoked_at IS NULL",
                [serial, deviceId],
            );
            if (rows.length === 0 || !(await findDevice(tx, deviceId, true))) {
                throw new ApiError(
                    401,
                    "unknown_certificate",
                    "the presented certificate is not a current certificate of this device",
                );
            }
            issued = await callPeer("step-ca", () => deps.signer.sign(csrPem, deviceId));
            await tx.query(
                `UPDATE devices SET certificate_serial = $2, certificate_not_after = $3, key_algorithm = $4, renewed_at = now()
                 WHERE id = $1`,
                [deviceId, issued.serialNumber, issued.notAfter, keyAlgorithm],
            );
            await tx.query(
                "INSERT INTO device_certificates (serial, device_id, not_after) VALUES ($1, $2, $3)",
                [issued.serialNumber, deviceId, issued.notAfter],
            );
            await recordEvent(tx, deviceId, "renewed", `device:${deviceId}`, {
                previousSerial: serial,
                serial: issued.serialNumber,
            });
            return issued;
        });
    } catch (error) {
        if (issued) {
            await undo(deps, {
                kind: "revoke-certificate",
                subject: issued.serialNumber,
                reason: "renewal rolled back",
            });
        }
        throw error;
    }
}

/** Checks the presented certificate; returns its serial number (lower-case hex). */
async function authenticateDevice(deviceId: string, presented: PresentedCertificate): Promise<string> {
    if (!presented.der || presented.der.length === 0) {
        throw new ApiError(
            401,
            "client_certificate_required",
            "renewal needs the device's current certificate over mutual TLS",
        );
    }
    const cert = new x509.X509Certificate(presented.der);
    try {
        await verifyChain({
            leaf: cert.toString("pem"),
            intermediates: [
                presented.subCaPem,
                ...presented.intermediates.map((d) => new x509.X509Certificate(d).toString("pem")),
            ],
            roots: [presented.rootPem],
            usage: "clientAuth",
            issuer: presented.subCaPem,
        });
    } catch (error) {
        throw new ApiError(
            401,
            "client_certificate_refused",
            `the presented certificate is not acceptable: ${(error as Error).message}`,
        );
    }
    if (cert.subject !== `CN=${deviceId}`) {
        throw new ApiError(403, "wrong_device", `the presented certificate is not device ${deviceId}'s`);
    }
    return cert.serialNumber.toLowerCase();
}

/**
 * Decommissions a device: revokes every certificate of it that is still valid, deletes its OTA
 * target, frees its address, removes its peer, deletes its row, and records who did it. The
 * database changes commit last, after step-ca and hawkBit agreed; both of those steps tolerate
 * having been done already, so a decommissioning that failed half-way is finished by a retry.
 */
export async function decommission(
    deps: LifecycleDeps,
    deviceId: string,
    actor: string,
    reason: string,
): Promise<DeviceView> {
    try {
        return await deps.db.transaction(async (tx) => {
            await lockDeviceId(tx, deviceId);
            const device = await findDevice(tx, deviceId, true);
            if (!device) throw new ApiError(404, "device_not_found", `device ${deviceId} is not enrolled`);
            const { rows } = await tx.query<{ serial: string }>(
                `UPDATE device_certificates SET revoked_at = now()
                 WHERE device_id = $1 AND revoked_at IS NULL AND not_after > now() RETURNING serial`,
                [deviceId],
            );
            const address = await deps.addresses.release(tx, deviceId);
            await tx.query("DELETE FROM devices WHERE id = $1", [deviceId]);
            await recordEvent(tx, deviceId, "decommissioned", actor, {
                reason,
                address,
                revokedSerials: rows.map((r) => r.serial),
            });
            await deps.feed.append(tx, "remove", {
                deviceId,
                publicKey: device.wireguardPublicKey,
                address: device.wireguardAddress,
            });
            for (const { serial } of rows) {
                await callPeer("step-ca", () => revokeOnce(deps, serial, reason));
            }
            await callPeer("hawkBit", () => deps.targets.deleteTarget(deviceId));
            return deviceView(device);
        });
    } finally {
        deps.feed.notify();
    }
}

/**
 * ThingsBoard's connect webhook: records first and last connection and makes sure the OTA
 * target exists with the device's token (a second path in case enrollment's call was lost).
 */
export async function deviceConnected(deps: LifecycleDeps, deviceId: string): Promise<DeviceView> {
    const device = await deps.db.transaction(async (tx) => {
        const { rows } = await tx.query(
            `UPDATE devices SET first_connected_at = coalesce(first_connected_at, now()), last_connected_at = now()
             WHERE id = $1 RETURNING id`,
            [deviceId],
        );
        if (rows.length === 0)
            throw new ApiError(404, "device_not_found", `device ${deviceId} is not enrolled`);
        return (await findDevice(tx, deviceId))!;
    });
    await callPeer("hawkBit", () => deps.targets.ensureTarget(deviceId, deviceId, device.otaToken));
    return deviceView(device);
}
