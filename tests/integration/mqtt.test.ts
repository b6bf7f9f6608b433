/**
 * The MQTT path on real Mosquitto (Debian's), the stand-in for a tenant's ThingsBoard MQTT
 * transport, with device certificates issued by real step-ca for two tenants of one platform
 * (one root, one intermediate, a Sub-CA each): acme's device, presenting its chain as
 * ThingsBoard's X.509 chain provisioning needs, connects and its telemetry reaches a subscriber
 * byte for byte; globex's device, a self-signed certificate, a forged Sub-CA's and none at all are
 * refused. It also shows why the broker's trust anchor is the tenant's Sub-CA alone: anchored at
 * the platform root, the same broker admits the other tenant's devices.
 */
import { IClientOptions, MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceDnsName } from "../../runtime/shared/pki-names";
import { createToken } from "../../runtime/shared/step-ca";
import { x509 } from "../../runtime/shared/x509";
import {
    mqttConnect,
    RunningBroker,
    startMosquitto,
    subCaTrustAnchor,
    subscription,
} from "../support/mosquitto";
import { csr, ecKey, intermediateCa, leafCertificate, localhostTls } from "../support/pki";
import { RunningCa, stepBinaries } from "../support/step-ca";
import { startTenantCa, TenantPeers, tenantPki } from "../support/tenant-peers";
import { subCaProfile } from "../../components/pki/profile";

const topic = "v1/devices/me/telemetry";

type Pki = Pick<TenantPeers, "root" | "ica" | "subCa" | "provisioner">;

interface Tenant {
    readonly id: string;
    readonly pki: Pki;
    readonly ca: RunningCa;
}

/** A device's key and certificate from its tenant's step-ca, as the bridge has them issued. */
interface Device {
    readonly id: string;
    readonly keyPem: string;
    readonly certificatePem: string;
    /** Issuer first, root excluded: the Sub-CA and the intermediate. */
    readonly chain: readonly string[];
}

const tenants: Record<string, Tenant> = {};
const devices: Record<string, Device> = {};
let broker: RunningBroker;
/** The same broker anchored at the platform root instead of the Sub-CA. */
let rootAnchored: RunningBroker;
const clients: MqttClient[] = [];

async function issue(tenant: Tenant, id: string): Promise<Device> {
    const key = await ecKey("P256");
    const token = await createToken(tenant.pki.provisioner.signer, {
        caDnsName: "localhost",
        subject: id,
        sans: [deviceDnsName(tenant.id, id)],
    });
    const signed = await tenant.ca.client.sign(await csr(key, id), token);
    return { id, keyPem: key.privatePem, certificatePem: signed.certificate, chain: signed.chain };
}

/** The device's fullchain.pem: its certificate, then the chain (as cdm-enroll writes it). */
const fullchain = (d: Device) => [d.certificatePem, ...d.chain].map((p) => p.replace(/\n*$/, "\n")).join("");

/** Connects to `b`'s TLS listener as a device presenting `cert` with `key`, verifying the broker against the root. */
async function connectDevice(
    b: RunningBroker,
    cert: string | undefined,
    key: string | undefined,
    clientId: string,
) {
    const options: IClientOptions = {
        ca: tenants.acme.pki.root.pem,
        clientId,
        ...(cert ? { cert, key } : {}),
    };
    const connection = await mqttConnect(b.tlsUrl, options);
    if (connection.client) clients.push(connection.client);
    return connection;
}

beforeAll(async () => {
    stepBinaries();
    const acme = await tenantPki("acme");
    const globex = await tenantPki("globex", acme);
    const base = 24100 + Math.floor(Math.random() * 400);
    tenants.acme = { id: "acme", pki: acme, ca: await startTenantCa(acme, base, "acme") };
    tenants.globex = { id: "globex", pki: globex, ca: await startTenantCa(globex, base + 1, "globex") };
    devices.acme = await issue(tenants.acme, "dev-mqtt-1");
    devices.globex = await issue(tenants.globex, "dev-mqtt-2");
    // ThingsBoard's MQTTS certificate comes from the tenant's Sub-CA; it is served with its chain.
    const server = await localhostTls(acme.subCa);
    const serverTls = { serverChainPem: server.certPem + acme.ica.pem, serverKeyPem: server.keyPem };
    broker = await startMosquitto(
        { ...serverTls, clientCaPem: await subCaTrustAnchor(acme.subCa) },
        { plain: true },
    );
    rootAnchored = await startMosquitto({
        ...serverTls,
        clientCaPem: acme.subCa.pem + acme.ica.pem + acme.root.pem,
    });
}, 180_000);

afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    await broker?.stop();
    await rootAnchored?.stop();
    await Promise.all(Object.values(tenants).map((t) => t.ca.stop()));
});

describe("a tenant's device on the MQTT stand-in", () => {
    it("connects with its certificate and chain, as its CN, and its telemetry reaches a subscriber exactly", async () => {
        const listener = await mqttConnect(broker.plainUrl!);
        clients.push(listener.client!);
        const received = await subscription(listener.client!, topic);
        const device = devices.acme;
        const connection = await connectDevice(broker, fullchain(device), device.keyPem, device.id);
        expect(connection.refused).toBeUndefined();
        const payload =
            '{"cpu_usage":23.4,"mem_free_mb":512,"sw_version":"1.0.0","rauc_slot":"B","ota_status":"idle"}';
        await connection.client!.publishAsync(topic, payload, { qos: 1 });
        expect(await received.next()).toEqual({ topic, payload });
        // use_identity_as_username: the broker knows the client by the certificate's CN, the device id.
        const connected = new RegExp(
            `New client connected from \\S+ as ${device.id} \\(.*u'${device.id}'\\)`,
        );
        expect(await broker.logged(connected)).toBe(true);
    });

    it("refuses another tenant's device of the same platform", async () => {
        const device = devices.globex;
        const connection = await connectDevice(broker, fullchain(device), device.keyPem, device.id);
        // The broker's TLS layer ends the handshake: no chain from globex's Sub-CA to the anchor.
        expect(connection.refused).toMatch(/alert unknown ca/);
        expect(await broker.logged(/certificate verify failed/)).toBe(true);
    });

    it("refuses a self-signed certificate, a forged Sub-CA's, and a client without a certificate", async () => {
        const key = await ecKey();
        const self = await x509.X509CertificateGenerator.createSelfSigned({
            serialNumber: "01",
            name: "CN=dev-mqtt-1",
            notBefore: new Date(Date.now() - 60_000),
            notAfter: new Date(Date.now() + 3600_000),
            keys: key.keys,
            signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        });
        expect((await connectDevice(broker, self.toString("pem"), key.privatePem, "self")).refused).toMatch(
            /alert unknown ca/,
        );
        // A CA with acme's Sub-CA's name but another key, and a device certificate it signed.
        const forged = await intermediateCa(subCaProfile("acme"), tenants.acme.pki.ica);
        expect(forged.cert.subject).toBe(tenants.acme.pki.subCa.cert.subject);
        const leaf = await leafCertificate(forged, "CN=dev-mqtt-1", [
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ]);
        expect(
            (await connectDevice(broker, leaf.pem + forged.pem, leaf.key.privatePem, "forged")).refused,
        ).toMatch(/alert unknown ca/);
        // require_certificate: no certificate, no session (TLS 1.3's certificate_required alert).
        expect((await connectDevice(broker, undefined, undefined, "anonymous")).refused).toMatch(
            /alert certificate required/,
        );
    });

    it("admits acme's certificate without its chain: the Sub-CA is the anchor (ThingsBoard differs, see docs)", async () => {
        const device = devices.acme;
        const connection = await connectDevice(
            broker,
            device.certificatePem,
            device.keyPem,
            `${device.id}-leaf`,
        );
        expect(connection.refused).toBeUndefined();
    });
});

describe("a broker anchored at the platform root (Sub-CA, intermediate and root in cafile)", () => {
    it("admits its own tenant's device and every other tenant's: why the stand-in anchors at the Sub-CA", async () => {
        for (const device of [devices.acme, devices.globex]) {
            const connection = await connectDevice(rootAnchored, fullchain(device), device.keyPem, device.id);
            expect(connection.refused, device.id).toBeUndefined();
        }
    });
});
