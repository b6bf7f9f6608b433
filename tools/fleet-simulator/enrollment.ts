/**
 * A simulated device's enrollment, as the agent (device-image/usr/sbin/cdm-enroll) does it: an EC
 * P-256 key and a CSR with CN = device id and nothing else, a WireGuard key pair, `POST
 * /devices/{id}/enroll` with the enrollment token, and the answer checked as answer.sh checks it
 * before anything is used: every field the device needs, of the right type; the certificate for
 * this key and this device, a client certificate, valid now, verifying through the answer's chain
 * to the platform root.
 */
import { generateKeyPairSync, webcrypto, X509Certificate } from "node:crypto";
import { x509 } from "../../runtime/shared/x509";

export interface DeviceIdentity {
    readonly id: string;
    /** PKCS#8 PEM; stays in this process. */
    readonly keyPem: string;
    /** SPKI DER of the public key, to compare with the certificate's. */
    readonly publicKeyDer: Buffer;
    readonly csrPem: string;
    /** base64, as `wg pubkey` prints it. */
    readonly wireguardPublicKey: string;
}

/** Makes the device's keys and request, as the agent does on the device. */
export async function deviceIdentity(id: string): Promise<DeviceIdentity> {
    const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
        "sign",
        "verify",
    ])) as webcrypto.CryptoKeyPair;
    const request = await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=${id}`,
        keys,
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    const wg = generateKeyPairSync("x25519").publicKey.export({ format: "jwk" });
    return {
        id,
        keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
        publicKeyDer: Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey)),
        csrPem: request.toString("pem"),
        wireguardPublicKey: Buffer.from(wg.x!, "base64url").toString("base64"),
    };
}

/** What a simulated device keeps from its enrollment. */
export interface Enrollment {
    readonly certificatePem: string;
    readonly chainPem: readonly string[];
    readonly rootPem: string;
    readonly address: string;
    readonly mqttUrl: string;
    readonly telemetryTopic: string;
    readonly hawkbitUrl: string;
    readonly hawkbitTenant: string;
    readonly controllerId: string;
    /** The DDI target token. Never printed. */
    readonly targetToken: string;
}

type Check = readonly [field: string, ok: (a: any) => boolean];

const str = (v: unknown, pattern: RegExp) => typeof v === "string" && pattern.test(v);
const plain = /^[^\x00-\x1f\x7f"$'\\`]{1,4096}$/;
const pem = /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n*$/;
const ipv4 = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}";
const cidr = new RegExp(`^${ipv4}/([12]?\\d|3[0-2])$`);
const host = "[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?";
const url = (schemes: string, path = "/?") => new RegExp(`^(${schemes})://${host}${path}$`);
const token = /^[A-Za-z0-9._~+/=-]{8,1024}$/;
const name = /^[A-Za-z0-9._-]{1,128}$/;
const integer = (v: unknown, lo: number, hi: number) =>
    typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;

/** The fields answer.sh's ENROLL_CHECKS require, with the same rules. */
function fieldChecks(id: string): Check[] {
    return [
        ["device_id", (a) => a.device_id === id],
        ["certificate_pem", (a) => str(a.certificate_pem, pem)],
        [
            "chain_pem",
            (a) =>
                Array.isArray(a.chain_pem) &&
                a.chain_pem.length >= 1 &&
                a.chain_pem.length <= 8 &&
                a.chain_pem.every((p: unknown) => str(p, pem)),
        ],
        ["root_ca_pem", (a) => str(a.root_ca_pem, pem)],
        ["certificate_not_after", (a) => str(a.certificate_not_after, plain)],
        ["wireguard.address", (a) => str(a.wireguard?.address, cidr) && a.wireguard.address.endsWith("/32")],
        [
            "wireguard.server_public_key",
            (a) => str(a.wireguard?.server_public_key, /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/),
        ],
        [
            "wireguard.endpoint",
            (a) => str(a.wireguard?.endpoint, new RegExp(`^${host}$`)) && /:\d+$/.test(a.wireguard.endpoint),
        ],
        [
            "wireguard.allowed_ips",
            (a) =>
                Array.isArray(a.wireguard?.allowed_ips) &&
                a.wireguard.allowed_ips.length >= 1 &&
                a.wireguard.allowed_ips.every((c: unknown) => str(c, cidr)),
        ],
        ["wireguard.persistent_keepalive", (a) => integer(a.wireguard?.persistent_keepalive, 0, 65535)],
        ["mqtt.url", (a) => str(a.mqtt?.url, plain) && str(a.mqtt.url, url("mqtts"))],
        ["mqtt.telemetry_topic", (a) => str(a.mqtt?.telemetry_topic, /^[A-Za-z0-9._/-]+$/)],
        ["hawkbit.url", (a) => str(a.hawkbit?.url, plain) && str(a.hawkbit.url, url("https|http"))],
        ["hawkbit.tenant", (a) => str(a.hawkbit?.tenant, name)],
        ["hawkbit.controller_id", (a) => a.hawkbit?.controller_id === id],
        ["hawkbit.target_token", (a) => str(a.hawkbit?.target_token, token)],
        [
            "influxdb.url",
            (a) =>
                str(a.influxdb?.url, plain) &&
                str(a.influxdb.url, url("https|http", "(/[A-Za-z0-9._~/-]*)?")),
        ],
        ["influxdb.org", (a) => str(a.influxdb?.org, plain)],
        ["influxdb.bucket", (a) => str(a.influxdb?.bucket, plain)],
        ["influxdb.token", (a) => str(a.influxdb?.token, token)],
        ["terminal.port", (a) => integer(a.terminal?.port, 1, 65535)],
        ["terminal.username", (a) => str(a.terminal?.username, name)],
        ["terminal.password", (a) => str(a.terminal?.password, token)],
    ];
}

const clientAuth = "1.3.6.1.5.5.7.3.2";

/**
 * Why `answer` is not an acceptable enrollment of `device` (empty when it is). `rootPem` is the
 * platform root the device ships; the answer's own root must be the same certificate.
 */
export function answerProblems(
    answer: unknown,
    device: DeviceIdentity,
    rootPem: string | undefined,
    now = new Date(),
): string[] {
    if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return ["not a JSON object"];
    const missing = fieldChecks(device.id)
        .filter(([, ok]) => {
            try {
                return !ok(answer);
            } catch {
                return true;
            }
        })
        .map(([field]) => field);
    if (missing.length) return [`missing or invalid: ${missing.join(", ")}`];
    const a = answer as { certificate_pem: string; chain_pem: string[]; root_ca_pem: string };
    let cert: X509Certificate, chain: X509Certificate[], root: X509Certificate, answerRoot: X509Certificate;
    try {
        cert = new X509Certificate(a.certificate_pem);
        chain = a.chain_pem.map((p) => new X509Certificate(p));
        answerRoot = new X509Certificate(a.root_ca_pem);
        root = rootPem ? new X509Certificate(rootPem) : answerRoot;
    } catch {
        return ["a certificate does not parse"];
    }
    if (!cert.publicKey.export({ type: "spki", format: "der" }).equals(device.publicKeyDer)) {
        return ["the certificate is not for the device key"];
    }
    if (cert.subject !== `CN=${device.id}`)
        return [`the certificate names ${cert.subject}, not CN=${device.id}`];
    if (answerRoot.fingerprint256 !== root.fingerprint256) return ["root_ca_pem is not the platform root"];
    if (cert.keyUsage && !cert.keyUsage.includes(clientAuth))
        return ["the certificate is not for client authentication"];
    const links = [cert, ...chain];
    for (const c of links) {
        if (new Date(c.validFrom) > now || new Date(c.validTo) < now)
            return [`${c.subject} is not valid now`];
    }
    for (let i = 0; i < links.length; i++) {
        const issuer = links[i + 1] ?? root;
        if (!links[i].checkIssued(issuer) || !links[i].verify(issuer.publicKey)) {
            return [
                `the certificate does not verify to the platform root (${links[i].subject} ← ${issuer.subject})`,
            ];
        }
    }
    return [];
}

/** The parts of a checked answer a simulated device uses. */
export function enrollmentOf(answer: any): Enrollment {
    return {
        certificatePem: answer.certificate_pem,
        chainPem: answer.chain_pem,
        rootPem: answer.root_ca_pem,
        address: answer.wireguard.address,
        mqttUrl: answer.mqtt.url,
        telemetryTopic: answer.mqtt.telemetry_topic,
        hawkbitUrl: answer.hawkbit.url,
        hawkbitTenant: answer.hawkbit.tenant,
        controllerId: answer.hawkbit.controller_id,
        targetToken: answer.hawkbit.target_token,
    };
}

/** Whether the agent retries a failed call with this status (network errors are retried too). */
export function retriable(status: number): boolean {
    return status === 408 || status === 429 || status >= 500;
}
