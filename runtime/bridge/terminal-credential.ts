/**
 * Each device's ttyd credential (`ttyd -c user:password`), derived from the tenant's terminal
 * key, the device id and the device's WireGuard key: the bridge hands it to the device at
 * enrollment and to the terminal proxy with the device's address, and stores nothing. One
 * device's credential reveals no other's; a device enrolled again with a new WireGuard key (a
 * reflashed or replaced unit) gets a new one; a new tenant key replaces them all.
 */
import { createHmac } from "node:crypto";

/** ttyd's user on every device; the password is what differs. */
export const terminalUser = "cdm-terminal";

/** A device's ttyd credential. */
export interface TerminalCredential {
    readonly username: string;
    readonly password: string;
}

/** The credential of device `deviceId` of `tenantId` with WireGuard key `wireguardKey` (HMAC-SHA256, base64url). */
export function terminalCredential(
    key: string,
    tenantId: string,
    deviceId: string,
    wireguardKey: string,
): TerminalCredential {
    const password = createHmac("sha256", key)
        .update(`ttyd\0${tenantId}\0${deviceId}\0${wireguardKey}`)
        .digest("base64url");
    return { username: terminalUser, password };
}
