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
            // Only the current certificate renews: an older one (superseded, or held by the unit a
            // device replaced) is no credential, whatever its remaining lifetime.
            const device = await findDevice(tx, deviceId, true);
            if (!device || device.certificateSerial !== serial) {
                throw new ApiError(
                    401,
                    "unknown_certificate",
                    "the presented certificate is not this device's current certificate",
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
            const step = {
                kind: "revoke-certificate" as const,
                subject: issued.serialNumber,
                reason: "renewal rolled back",
            };
            await undo(deps, step).catch((e: unknown) =>
                deps.log.warn({ ...step, error: String(e) }, "an undo step was neither done nor recorded"),
            );
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
 * Decommissions a device: deletes its OTA target, revokes every certificate of it that is still
 * valid, then frees its address, removes its peer, deletes its row and records who did it. The
 * peers are asked first, holding only this device's lock (the peer feed's lock is taken last,
 * just before commit); both steps tolerate having been done already, so a decommissioning that
 * failed half-way is finished by a retry. The target goes first: should a revocation then fail,
 * the device is still enrolled, and the connect webhook can restore its target.
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
                "SELECT serial FROM device_certificates WHERE device_id = $1 AND revoked_at IS NULL AND not_after > now()",
                [deviceId],
            );
            await callPeer("hawkBit", () => deps.targets.deleteTarget(deviceId));
            for (const { serial } of rows) {
                await callPeer("step-ca", () => revokeOnce(deps, serial, reason));
            }
            await tx.query(
                "UPDATE device_certificates SET revoked_at = now() WHERE device_id = $1 AND revoked_at IS NULL",
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
    // Under the device's lock, so a decommissioning cannot slip between the check and the target.
    const device = await deps.db.transaction(async (tx) => {
        await lockDeviceId(tx, deviceId);
        const { rows } = await tx.query(
            `UPDATE devices SET first_connected_at = coalesce(first_connected_at, now()), last_connected_at = now()
             WHERE id = $1 RETURNING id`,
            [deviceId],
        );
        if (rows.length === 0)
            throw new ApiError(404, "device_not_found", `device ${deviceId} is not enrolled`);
        const found = (await findDevice(tx, deviceId))!;
        await callPeer("hawkBit", () => deps.targets.ensureTarget(deviceId, deviceId, found.otaToken));
        return found;
    });
    return deviceView(device);
}
