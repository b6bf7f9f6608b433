import { deviceDnsName } from "../shared/pki-names";
import { createToken, ProvisionerKey, SignResponse, StepCaClient, verifyChain } from "../shared/step-ca";
import { x509 } from "../shared/x509";

/** Where the tenant bridge gets device certificates: its tenant's step-ca and provisioner. */
export interface DeviceCertificatesOptions {
    readonly tenantId: string;
    readonly client: StepCaClient;
    /** The DNS name of the step-ca Service used as token audience. */
    readonly caDnsName: string;
    /** The bridge's device provisioner (Secret `step-ca-provisioner-bridge-<tenant>`). */
    readonly provisioner: ProvisionerKey;
    /** The platform root (PEM). */
    readonly rootPem: string;
    /** The tenant's Sub-CA (PEM): every device certificate must come from exactly this CA. */
    readonly subCaPem: string;
}

/** A device certificate with the chain up to (not including) the root. */
export interface DeviceCertificate {
    readonly certificatePem: string;
    readonly chainPem: readonly string[];
    readonly serialNumber: string;
    readonly notAfter: Date;
}

/**
 * Device certificates for one tenant: a one-time token per request naming the device (CN = id,
 * SAN `<id>.<tenant>.devices.cdm-platform`), signed at the tenant step-ca, and checked before it
 * is handed out: issued by the tenant's own Sub-CA, a client certificate, chaining to the root.
 */
export class DeviceCertificates {
    constructor(private readonly options: DeviceCertificatesOptions) {}

    /** Signs a device's (already checked) request. */
    async sign(csrPem: string, deviceId: string): Promise<DeviceCertificate> {
        const { client, caDnsName, provisioner, tenantId } = this.options;
        const token = await createToken(provisioner, {
            caDnsName,
            subject: deviceId,
            sans: [deviceDnsName(tenantId, deviceId)],
        });
        return this.checked(await client.sign(csrPem, token));
    }

    /** Revokes a certificate by serial number (hex), for decommissioning. */
    async revoke(serialNumberHex: string, reason: string): Promise<void> {
        const serial = BigInt(`0x${serialNumberHex}`).toString(10);
        const token = await createToken(this.options.provisioner, {
            caDnsName: this.options.caDnsName,
            subject: serial,
            action: "revoke",
        });
        await this.options.client.revoke(serial, token, reason);
    }

    private async checked(signed: SignResponse): Promise<DeviceCertificate> {
        await verifyChain({
            leaf: signed.certificate,
            intermediates: signed.chain,
            roots: [this.options.rootPem],
            usage: "clientAuth",
            issuer: this.options.subCaPem,
        });
        const cert = new x509.X509Certificate(signed.certificate);
        return {
            certificatePem: signed.certificate,
            chainPem: signed.chain,
            serialNumber: cert.serialNumber.toLowerCase(),
            notAfter: cert.notAfter,
        };
    }
}
