import { Queryable } from "./db/database";

/** A device as operators see it. */
export interface DeviceView {
    readonly id: string;
    readonly status: "enrolled";
    readonly wireguardAddress: string;
    readonly wireguardPublicKey: string;
    readonly keyAlgorithm: string;
    readonly certificateSerial: string;
    readonly certificateNotAfter: string;
    readonly enrolledAt: string;
    readonly renewedAt: string | null;
    readonly firstConnectedAt: string | null;
    readonly lastConnectedAt: string | null;
}

/** A device row with what the bridge needs internally (never sent to operators as is). */
export interface DeviceRecord extends DeviceView {
    readonly otaToken: string;
}

const columns = `d.id, host(a.network + a.host_offset) AS address, d.wireguard_public_key, d.key_algorithm,
    d.certificate_serial, d.certificate_not_after, d.enrolled_at, d.renewed_at, d.first_connected_at,
    d.last_connected_at, d.ota_token`;

interface Row extends Record<string, unknown> {
    id: string;
    address: string;
    wireguard_public_key: string;
    key_algorithm: string;
    certificate_serial: string;
    certificate_not_after: Date;
    enrolled_at: Date;
    renewed_at: Date | null;
    first_connected_at: Date | null;
    last_connected_at: Date | null;
    ota_token: string;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

function toRecord(r: Row): DeviceRecord {
    return {
        id: r.id,
        status: "enrolled",
        wireguardAddress: r.address,
        wireguardPublicKey: r.wireguard_public_key,
        keyAlgorithm: r.key_algorithm,
        certificateSerial: r.certificate_serial,
        certificateNotAfter: iso(r.certificate_not_after)!,
        enrolledAt: iso(r.enrolled_at)!,
        renewedAt: iso(r.renewed_at),
        firstConnectedAt: iso(r.first_connected_at),
        lastConnectedAt: iso(r.last_connected_at),
        otaToken: r.ota_token,
    };
}

/** What operators may see of a device: everything but its credentials. */
export function deviceView(record: DeviceRecord): DeviceView {
    const { otaToken: _secret, ...view } = record;
    return view;
}

/** One device, or undefined; `forUpdate` locks its row until the transaction ends. */
export async function findDevice(
    q: Queryable,
    id: string,
    forUpdate = false,
): Promise<DeviceRecord | undefined> {
    const { rows } = await q.query<Row>(
        `SELECT ${columns} FROM devices d JOIN wireguard_addresses a ON a.device_id = d.id
         WHERE d.id = $1 ${forUpdate ? "FOR UPDATE OF d" : ""}`,
        [id],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
}

/** Devices in id order, a page at a time: the ones after `after`, at most `limit`. */
export async function listDevices(q: Queryable, limit: number, after?: string): Promise<DeviceView[]> {
    const { rows } = await q.query<Row>(
        `SELECT ${columns} FROM devices d JOIN wireguard_addresses a ON a.device_id = d.id
         WHERE ($1::text IS NULL OR d.id > $1) ORDER BY d.id LIMIT $2`,
        [after ?? null, limit],
    );
    return rows.map((r) => deviceView(toRecord(r)));
}

/** Appends to the audit trail. `actor` is who did it: a user's subject, a token id, a service. */
export async function recordEvent(
    q: Queryable,
    deviceId: string,
    kind: string,
    actor: string,
    details: Record<string, unknown> = {},
): Promise<void> {
    await q.query("INSERT INTO device_events (device_id, kind, actor, details) VALUES ($1, $2, $3, $4)", [
        deviceId,
        kind,
        actor,
        JSON.stringify(details),
    ]);
}

/** An audit event. */
export interface DeviceEvent {
    readonly kind: string;
    readonly actor: string;
    readonly details: Record<string, unknown>;
    readonly at: string;
}

/** A device's audit trail, oldest first (kept after decommissioning). */
export async function deviceEvents(q: Queryable, deviceId: string): Promise<DeviceEvent[]> {
    const { rows } = await q.query<{
        kind: string;
        actor: string;
        details: Record<string, unknown>;
        at: Date;
    }>("SELECT kind, actor, details, at FROM device_events WHERE device_id = $1 ORDER BY id", [deviceId]);
    return rows.map((r) => ({ kind: r.kind, actor: r.actor, details: r.details, at: iso(r.at)! }));
}

/** Serializes everything done to one device id (enrollment, renewal, decommissioning). */
export async function lockDeviceId(tx: Queryable, id: string): Promise<void> {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`device:${id}`]);
}
