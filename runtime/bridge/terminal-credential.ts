/**
 * Each device's ttyd credential (`ttyd -c user:password`), derived from the tenant's terminal
 * key and the device id: the bridge hands it to the device at enrollment and to the terminal
 * proxy with the device's address, and stores nothing. One device's credential reveals no
 * other's; a new key (and re-enrollment) replaces them all.
 */
import { createHmac } from "node:crypto";

/** ttyd's user on every device; the password is what differs. */
export const terminalUser = "cdm-terminal";

/** A device's ttyd credential. */
export interface TerminalCredential {
    readonly username: string;
    readonly password: string;
}

/** The credential of `deviceId` of `tenantId` under `key` (HMAC-SHA256, base64url, 43 characters). */
export function terminalCredential(key: string, tenantId: string, deviceId: string): TerminalCredential {
    const password = createHmac("sha256", key).update(`ttyd\0${tenantId}\0${deviceId}`).digest("base64url");
    return { username: terminalUser, password };
}
