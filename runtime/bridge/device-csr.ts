import { isDnsLabel } from "../../components/config/validate";
import { x509 } from "../shared/x509";

/** Why a device's request was refused; answered with 400 and this message. */
export class CsrRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CsrRefused";
    }
}

/** What the bridge accepts. */
export interface CsrPolicy {
    /** Allow RSA keys (2048 bits or more); off by default, EC and Ed25519 are preferred. */
    readonly allowRsa: boolean;
}

/** The accepted key of a device request. */
export interface DeviceKey {
    readonly algorithm: "EC P-256" | "EC P-384" | "Ed25519" | `RSA ${number}`;
}

/** True when `id` is a device id: a lower-case DNS label (it becomes part of the device's DNS name). */
export function isDeviceId(id: string): boolean {
    return isDnsLabel(id) && id.length >= 3;
}

/**
 * Checks a device's PKCS#10 request: it parses, its signature verifies (the device holds the
 * key), the key is EC P-256/P-384 or Ed25519 (RSA of 2048 bits or more only when allowed), the
 * subject is exactly CN=<device id>, and it asks for no names or other extensions: the device's
 * names come from the bridge, not from the device.
 */
export async function checkDeviceCsr(pem: string, deviceId: string, policy: CsrPolicy): Promise<DeviceKey> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
        csr = new x509.Pkcs10CertificateRequest(pem);
    } catch {
        throw new CsrRefused("csr_pem is not a PEM certificate request");
    }
    if (!(await csr.verify())) throw new CsrRefused("csr_pem is not signed by its own key");
    if (csr.subject !== `CN=${deviceId}`) {
        throw new CsrRefused(
            `the request's subject must be exactly CN=${deviceId}, not ${csr.subject || "empty"}`,
        );
    }
    if (csr.extensions.length > 0) {
        throw new CsrRefused("the request must not ask for names or other extensions");
    }
    const algorithm = csr.publicKey.algorithm as {
        name: string;
        namedCurve?: string;
        modulusLength?: number;
    };
    if (
        algorithm.name === "ECDSA" &&
        (algorithm.namedCurve === "P-256" || algorithm.namedCurve === "P-384")
    ) {
        return { algorithm: `EC ${algorithm.namedCurve}` };
    }
    if (algorithm.name === "Ed25519") return { algorithm: "Ed25519" };
    if (algorithm.name.startsWith("RSA") && policy.allowRsa) {
        const bits = algorithm.modulusLength ?? 0;
        if (bits < 2048) throw new CsrRefused(`RSA keys need 2048 bits or more, not ${bits}`);
        return { algorithm: `RSA ${bits}` };
    }
    throw new CsrRefused(
        `key type ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ""} is not accepted (EC P-256, EC P-384 or Ed25519)`,
    );
}
