import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { subCaCommonName, subCaPermittedNames } from "../../runtime/shared/pki-names";
import { organization, subCaProfile } from "./profile";
import { SignedSubCa } from "./signed-sub-ca";

export interface TenantSubCaArgs {
    /** The tenant whose devices the Sub-CA signs. */
    readonly tenantId: string;
    /** The tenant's namespace, whose step-ca Service names the Sub-CA may issue. */
    readonly namespace: string;
    /** The domain of the tenant's public endpoints (`<service>.<tenant>.<domain>`), which it may issue too. */
    readonly domain: string;
    /** The platform root and provider intermediate (PEM) the signed Sub-CA must chain to. */
    readonly platformCa: pulumi.Input<{ root: string; intermediate: string }>;
    /** Base URL of the provider bridge (from the provider stack). */
    readonly bridgeUrl: pulumi.Input<string>;
    /** The platform automation credential for the onboarding API; a Pulumi secret. */
    readonly onboardingToken?: pulumi.Input<string>;
}

/**
 * A tenant's Sub-CA: its key and CSR are made here, in the tenant stack; the certificate is
 * signed by the provider through the provider bridge's onboarding API. Key and certificate are
 * protected: replacing them would invalidate every device certificate of the tenant.
 */
export class TenantSubCa extends pulumi.ComponentResource {
    /** The Sub-CA certificate (PEM). */
    public readonly certificate: pulumi.Output<string>;
    /** The chain above it, issuer first, root excluded (PEMs). */
    public readonly chain: pulumi.Output<string[]>;
    /** The Sub-CA private key (PEM), a Pulumi secret. */
    public readonly key: pulumi.Output<string>;

    constructor(name: string, args: TenantSubCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:pki:TenantSubCa", name, {}, opts);
        const keep = { parent: this, protect: true };
        const profile = subCaProfile(args.tenantId);
        const key = new tls.PrivateKey(
            `${name}-key`,
            { algorithm: "ECDSA", ecdsaCurve: profile.curve },
            keep,
        );
        const request = new tls.CertRequest(
            `${name}-request`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: subCaCommonName(args.tenantId), organization },
                // They become the certificate's name constraints: the tenant's devices, its
                // step-ca and its public endpoints only.
                dnsNames: subCaPermittedNames(args.tenantId, args.namespace, args.domain),
            },
            // Protected: a new request (ECDSA signatures differ every time) would replace the certificate.
            keep,
        );
        const signed = new SignedSubCa(
            `${name}-certificate`,
            {
                bridgeUrl: args.bridgeUrl,
                tenantId: args.tenantId,
                csrPem: request.certRequestPem,
                publicKeyPem: key.publicKeyPem,
                permittedNames: subCaPermittedNames(args.tenantId, args.namespace, args.domain),
                issuerPem: pulumi.output(args.platformCa).apply((ca) => ca.intermediate),
                rootPem: pulumi.output(args.platformCa).apply((ca) => ca.root),
                token: pulumi.secret(args.onboardingToken ?? ""),
            },
            keep,
        );
        this.certificate = signed.certificatePem;
        this.chain = signed.chainPem;
        this.key = pulumi.secret(key.privateKeyPem);
        this.registerOutputs({ certificate: this.certificate, chain: this.chain });
    }
}
