/** The bridge serves a renewed certificate without a restart, and keeps the old one if the new one is broken. */
import { mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:https";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterEach, expect, it } from "vitest";
import { rootProfile } from "../../../components/pki/profile";
import { reloadTlsOnChange } from "../../../runtime/bridge/tls-reload";
import { x509 } from "../../../runtime/shared/x509";
import { ecKey, leafCertificate, rootCa, TestCa } from "../../support/pki";

let server: Server | undefined;
let stop: (() => void) | undefined;

afterEach(() => {
    stop?.();
    server?.close();
});

async function serverCertificate(ca: TestCa) {
    const key = await ecKey();
    const cert = await leafCertificate(
        ca,
        "CN=localhost",
        [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }])],
        key,
    );
    return {
        cert: cert.pem,
        key: key.privatePem,
        serial: new x509.X509Certificate(cert.pem).serialNumber.toLowerCase(),
    };
}

/** The serial of the certificate the server presents to a new connection. */
function servedSerial(port: number, ca: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca }, () => {
            resolve(socket.getPeerCertificate().serialNumber.toLowerCase());
            socket.end();
        });
        socket.on("error", reject);
    });
}

it("serves the renewed certificate to new connections, and keeps the old one when the new one is broken", async () => {
    const ca = await rootCa(rootProfile);
    const [first, second] = [await serverCertificate(ca), await serverCertificate(ca)];
    const dir = mkdtempSync(join(tmpdir(), "tls-reload-"));
    const files = { certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") };
    const write = (pair: { cert: string; key: string }, at: number) => {
        writeFileSync(files.certFile, pair.cert);
        writeFileSync(files.keyFile, pair.key);
        utimesSync(files.certFile, at, at);
        utimesSync(files.keyFile, at, at);
    };
    write(first, 1_000_000);
    server = createServer({ cert: first.cert, key: first.key });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const warnings: string[] = [];
    stop = reloadTlsOnChange(server, files, { warn: (_d, m) => warnings.push(m), info: () => undefined }, 20);
    expect(await servedSerial(port, ca.pem)).toBe(first.serial);
    write(second, 2_000_000);
    await expect.poll(() => servedSerial(port, ca.pem), { timeout: 5000, interval: 50 }).toBe(second.serial);
    write({ cert: "not a certificate", key: second.key }, 3_000_000);
    await expect
        .poll(() => warnings, { timeout: 5000, interval: 50 })
        .toContain("could not load the renewed certificate");
    expect(await servedSerial(port, ca.pem)).toBe(second.serial);
});
