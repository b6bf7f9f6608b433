import { createPrivateKey, createPublicKey } from "node:crypto";

/** DER prefix of a PKCS#8 X25519 private key; the 32 key bytes follow. */
const x25519Pkcs8Prefix = Buffer.from("302e020100300506032b656e04220420", "hex");

/**
 * The WireGuard public key (base64) of a private key (base64, 32 bytes), as `wg pubkey` computes
 * it: X25519 of the clamped key with the base point. Pure, so the program can derive the server's
 * public key from the generated private key during the preview.
 */
export function wireguardPublicKey(privateKeyBase64: string): string {
    const raw = Buffer.from(privateKeyBase64, "base64");
    if (raw.length !== 32) throw new Error("a WireGuard private key is 32 bytes in base64");
    const privateKey = createPrivateKey({
        key: Buffer.concat([x25519Pkcs8Prefix, raw]),
        format: "der",
        type: "pkcs8",
    });
    const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    return spki.subarray(spki.length - 32).toString("base64");
}
