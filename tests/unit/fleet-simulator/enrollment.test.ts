import { createPublicKey, X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { parseSleep, refusalReason, stateMessage } from "../../../tools/fleet-simulator/device";
import {
    answerProblems,
    DeviceIdentity,
    deviceIdentity,
    retriable,
} from "../../../tools/fleet-simulator/enrollment";
import { startProgress } from "../../../tools/fleet-simulator/progress";
import { FleetStats } from "../../../tools/fleet-simulator/summary";
import { x509 } from "../../../runtime/shared/x509";
import { testPki, wireguardKey } from "../../support/bridge";
import { ecKey, KeyPair, leafCertificate, TestCa } from "../../support/pki";

const id = "sim-0001";
let pki: { root: TestCa; ica: TestCa; subCa: TestCa };
let key: KeyPair;
let device: DeviceIdentity;
let answer: Record<string, any>;

const clientLeaf = (subject: string, k?: KeyPair, issuer = pki.subCa) =>
    leafCertificate(
        issuer,
        subject,
        [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
        k,
    );

beforeAll(async () => {
    pki = await testPki();
    key = await ecKey();
    device = {
        id,
        keyPem: key.privatePem,
        publicKeyDer: createPublicKey(key.publicPem).export({ type: "spki", format: "der" }),
        csrPem: "",
        wireguardPublicKey: wireguardKey(),
    };
    answer = {
        device_id: id,
        certificate_pem: (await clientLeaf(`CN=${id}`, key)).pem,
        chain_pem: [pki.subCa.pem, pki.ica.pem],
        root_ca_pem: pki.root.pem,
        certificate_not_after: "2026-11-29T04:00:00Z",
        reenrolled: false,
        wireguard: {
            address: "10.8.0.2/32",
            server_public_key: wireguardKey(),
            endpoint: "vpn.acme.example.com:51820",
            allowed_ips: ["10.8.0.1/32"],
            persistent_keepalive: 25,
        },
        mqtt: { url: "mqtts://things.acme.example.com:8883", telemetry_topic: "v1/devices/me/telemetry" },
        hawkbit: {
            url: "https://ota.acme.example.com",
            tenant: "DEFAULT",
            controller_id: id,
            target_token: "t0ken-abcdef",
        },
        influxdb: {
            url: "https://metrics.acme.example.com",
            org: "acme",
            bucket: "devices",
            token: "influx-write-token",
        },
        terminal: { port: 7681, username: "cdm", password: "pa55word-xyz" },
    };
});

const withField = (path: string, value: unknown) => {
    const copy = structuredClone(answer);
    const keys = path.split(".");
    const last = keys.pop()!;
    const at = keys.reduce((o, k) => o[k], copy);
    if (value === undefined) delete at[last];
    else at[last] = value;
    return copy;
};

describe("the checks of an enrollment answer (as answer.sh's)", () => {
    it("accepts the bridge's answer for this device's key", () => {
        expect(answerProblems(answer, device, pki.root.pem)).toEqual([]);
        // Without a shipped root the answer's own root anchors the chain.
        expect(answerProblems(answer, device, undefined)).toEqual([]);
    });

    it("names every missing or malformed field", () => {
        const bad = withField("hawkbit.controller_id", "other");
        bad.wireguard.address = "10.8.0.2/24";
        bad.mqtt.url = "mqtt://things:1883";
        delete bad.influxdb.token;
        bad.terminal.password = "has space";
        expect(answerProblems(bad, device, pki.root.pem)).toEqual([
            "missing or invalid: wireguard.address, mqtt.url, hawkbit.controller_id, influxdb.token, terminal.password",
        ]);
        expect(answerProblems([answer], device, pki.root.pem)).toEqual(["not a JSON object"]);
        expect(answerProblems(undefined, device, pki.root.pem)).toEqual(["not a JSON object"]);
        expect(answerProblems(withField("mqtt.url", "mqtts://h:1/$(x)"), device, pki.root.pem)).toEqual([
            "missing or invalid: mqtt.url",
        ]);
    });

    it("refuses a certificate for another key, another device, another root or a broken chain", async () => {
        const other = await clientLeaf(`CN=${id}`);
        expect(answerProblems(withField("certificate_pem", other.pem), device, pki.root.pem)).toEqual([
            "the certificate is not for the device key",
        ]);
        const named = await clientLeaf("CN=sim-0002", key);
        expect(answerProblems(withField("certificate_pem", named.pem), device, pki.root.pem)).toEqual([
            "the certificate names CN=sim-0002, not CN=sim-0001",
        ]);
        const otherRoot = (await testPki()).root.pem;
        expect(answerProblems(answer, device, otherRoot)).toEqual(["root_ca_pem is not the platform root"]);
        const subject = new X509Certificate(pki.subCa.pem).subject;
        expect(answerProblems(withField("chain_pem", [pki.subCa.pem]), device, pki.root.pem)).toEqual([
            `the certificate does not verify to the platform root (${subject} ← ${new X509Certificate(pki.root.pem).subject})`,
        ]);
        const serverOnly = await leafCertificate(
            pki.subCa,
            `CN=${id}`,
            [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])],
            key,
        );
        expect(answerProblems(withField("certificate_pem", serverOnly.pem), device, pki.root.pem)).toEqual([
            "the certificate is not for client authentication",
        ]);
        expect(answerProblems(answer, device, pki.root.pem, new Date(Date.now() + 400 * 86_400_000))).toEqual(
            [`CN=${id} is not valid now`],
        );
    });

    it("makes a real identity: the CSR names only the device, the WireGuard key is 32 bytes", async () => {
        const made = await deviceIdentity(id);
        const csr = new x509.Pkcs10CertificateRequest(made.csrPem);
        expect(csr.subject).toBe(`CN=${id}`);
        expect(csr.extensions).toEqual([]);
        expect(await csr.verify()).toBe(true);
        expect(Buffer.from(csr.publicKey.rawData)).toEqual(made.publicKeyDer);
        expect(Buffer.from(made.wireguardPublicKey, "base64")).toHaveLength(32);
        expect(made.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    });
});

describe("the device's protocol details", () => {
    it("retries what the agent retries", () => {
        expect([400, 401, 404, 408, 409, 429, 500, 502, 503].filter(retriable)).toEqual([
            408, 429, 500, 502, 503,
        ]);
        expect(
            refusalReason({ status: 401, text: '{"error":"enrollment_token_refused","message":"used up"}' }),
        ).toBe("401 enrollment_token_refused: used up");
        expect(refusalReason({ status: 502, text: "<html>bad gateway</html>" })).toBe("502");
    });

    it("sends the spec's message in its field order", () => {
        expect(stateMessage(3)).toBe(
            '{"cpu_usage":11.1,"mem_free_mb":295,"sw_version":"1.0.0","rauc_slot":"A","ota_status":"idle"}',
        );
        expect(Object.keys(JSON.parse(stateMessage(0)))).toEqual([
            "cpu_usage",
            "mem_free_mb",
            "sw_version",
            "rauc_slot",
            "ota_status",
        ]);
    });

    it("reads hawkBit's HH:MM:SS polling sleep", () => {
        expect(parseSleep("00:05:00")).toBe(300);
        expect(parseSleep("12:00:30")).toBe(43_230);
        expect(parseSleep("00:00:30")).toBe(30);
        expect([parseSleep("5m"), parseSleep("00:61:00"), parseSleep(300), parseSleep(undefined)]).toEqual([
            undefined,
            undefined,
            undefined,
            undefined,
        ]);
    });

    it("rewrites one line on a terminal and writes plain lines otherwise", () => {
        const stats = new FleetStats();
        const tty: string[] = [];
        startProgress(stats, 3, { isTTY: true, write: (t) => tty.push(t) }, 60_000).stop();
        expect(tty).toEqual(["\r0s  enrolled 0/3  failed 0  sent 0  polls 0  errors 0\x1b[K", "\n"]);
        const log: string[] = [];
        startProgress(stats, 3, { isTTY: false, write: (t) => log.push(t) }, 60_000).stop();
        expect(log).toEqual(["0s  enrolled 0/3  failed 0  sent 0  polls 0  errors 0\n"]);
    });
});
