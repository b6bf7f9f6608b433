/** The WireGuard server key the program derives, checked against RFC 7748's X25519 test vector. */
import { expect, it } from "vitest";
import { wireguardPublicKey } from "../../components/wireguard/keys";
import { isWireguardKey } from "../../runtime/bridge/config";

it("derives the public key as X25519 does (RFC 7748 section 6.1, Alice)", () => {
    const privateKey = Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex");
    const publicKey = wireguardPublicKey(privateKey.toString("base64"));
    expect(Buffer.from(publicKey, "base64").toString("hex")).toBe(
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    );
    expect(isWireguardKey(publicKey)).toBe(true);
});

it("refuses a key that is not 32 bytes", () => {
    expect(() => wireguardPublicKey(Buffer.alloc(31).toString("base64"))).toThrow(
        "a WireGuard private key is 32 bytes in base64",
    );
});
