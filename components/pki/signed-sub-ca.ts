import * as pulumi from "@pulumi/pulumi";
import { subCaPath, SubCaResponse } from "../../runtime/shared/onboarding";
import { callBridge, refusal } from "../onboarding/bridge-call";

/** Inputs of the onboarding call; `token` is the platform automation credential (a secret). */
export interface SignedSubCaInputs {
    /** Base URL of the provider bridge. */
    readonly bridgeUrl: string;
    readonly tenantId: string;
    /** The Sub-CA's CSR (PEM). */
    readonly csrPem: string;
    /** The Sub-CA's public key (PEM), which the signed certificate must carry. */
    readonly publicKeyPem: string;
    /** The DNS subtrees the Sub-CA must be constrained to. */
    readonly permittedNames: string[];
    /** The provider intermediate (PEM) that must have issued the Sub-CA. */
    readonly issuerPem: string;
    /** The platform root (PEM) the intermediate must chain to. */
    readonly rootPem: string;
    readonly token: string;
}

/** What the resource keeps: the certificate and its chain. */
export interface SignedSubCaOutputs extends SignedSubCaInputs {
    readonly certificatePem: string;
    readonly chainPem: string[];
}

/** What a Sub-CA certificate from the onboarding API must be. */
export interface SubCaExpectation {
    readonly tenantId: string;
    readonly publicKeyPem: string;
    readonly permittedNames: readonly string[];
    readonly issuerPem: string;
    readonly rootPem: string;
    readonly now?: Date;
}

/**
 * Checks an answer of the onboarding API before the tenant trusts it: the certificate carries
 * the tenant's own key and its Sub-CA name, is a CA that may sign leaves only (path length 0,
 * keyCertSign), is constrained (critically) to exactly the tenant's names, is valid now and not
 * beyond its issuer, and was issued by the provider intermediate, which chains to the root.
 * Returns the problem, or undefined when the answer is good.
 */
export function checkSignedSubCa(answer: SubCaResponse, expected: SubCaExpectation): string | undefined {
    // Required here rather than imported: dynamic providers are serialized with their closure.
    require("reflect-metadata");
    const { webcrypto, createPublicKey, X509Certificate } =
        require("node:crypto") as typeof import("node:crypto");
    const peculiar = require("@peculiar/x509") as typeof import("@peculiar/x509");
    peculiar.cryptoProvider.set(webcrypto as never);
    if (
        typeof answer?.certificate_pem !== "string" ||
        !Array.isArray(answer.chain_pem) ||
        answer.chain_pem.length === 0
    ) {
        return "the answer has no certificate_pem and chain_pem";
    }
    let cert: InstanceType<typeof X509Certificate>;
    try {
        cert = new X509Certificate(answer.certificate_pem);
    } catch {
        return "the answer's certificates are not PEM certificates";
    }
    const issuer = new X509Certificate(expected.issuerPem);
    const root = new X509Certificate(expected.rootPem);
    const der = (k: import("node:crypto").KeyObject) =>
        k.export({ type: "spki", format: "der" }).toString("hex");
    if (der(cert.publicKey) !== der(createPublicKey(expected.publicKeyPem))) {
        return "the certificate is not for this tenant's Sub-CA key";
    }
    const parsed = new peculiar.X509Certificate(answer.certificate_pem);
    if (!parsed.subject.split(", ").includes(`CN=${expected.tenantId}.sub-ca.cdm-platform`)) {
        return `the certificate's subject ${parsed.subject} is not the Sub-CA of ${expected.tenantId}`;
    }
    const bc = parsed.getExtension(peculiar.BasicConstraintsExtension);
    const ku = parsed.getExtension(peculiar.KeyUsagesExtension);
    if (!bc?.ca || bc.pathLength !== 0 || !ku || (ku.usages & peculiar.KeyUsageFlags.keyCertSign) === 0) {
        return "the certificate is not a CA limited to path length 0";
    }
    const constraints = parsed.extensions.find((e) => e.type === "2.5.29.30");
    const permitted = constraints ? permittedDnsNames(constraints.value) : [];
    if (
        !constraints?.critical ||
        [...permitted].sort().join() !== [...expected.permittedNames].sort().join()
    ) {
        return `the certificate is not constrained to exactly ${expected.permittedNames.join(", ")}`;
    }
    const now = expected.now ?? new Date();
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
        return "the certificate is not valid now";
    }
    if (new Date(cert.validTo) > new Date(issuer.validTo)) {
        return "the certificate outlives its issuer";
    }
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        return "the certificate was not issued by the provider intermediate";
    }
    if (!issuer.checkIssued(root) || !issuer.verify(root.publicKey)) {
        return "the provider intermediate does not chain to the platform root";
    }
    return undefined;
}

/**
 * The permitted DNS subtrees of a NameConstraints extension value (DER). runtime/shared/step-ca
 * parses them too, but a serialized dynamic provider cannot require a project module by relative
 * path, so this copy uses packages only.
 */
function permittedDnsNames(value: ArrayBuffer): string[] {
    const { AsnConvert } = require("@peculiar/asn1-schema") as typeof import("@peculiar/asn1-schema");
    const { NameConstraints } = require("@peculiar/asn1-x509") as typeof import("@peculiar/asn1-x509");
    const parsed = AsnConvert.parse(value, NameConstraints);
    return (parsed.permittedSubtrees ?? [])
        .map((s) => s.base.dNSName)
        .filter((n): n is string => typeof n === "string");
}

/** The dynamic provider: signing is a create; a new CSR or tenant replaces; delete revokes. */
export const signedSubCaProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: SignedSubCaInputs) {
        if (!inputs.token) {
            throw new Error("cdm:onboardingToken is not set: the provider bridge's onboarding API needs it");
        }
        const url = new URL(subCaPath(inputs.tenantId), inputs.bridgeUrl).toString();
        const { status, json } = await callBridge("POST", url, inputs.token, { csr_pem: inputs.csrPem });
        if (status !== 200 && status !== 201) {
            const message = (json as { message?: string } | undefined)?.message ?? "no message";
            throw new Error(
                `the provider bridge refused to sign the Sub-CA of ${inputs.tenantId}: ${status} ${message}`,
            );
        }
        const answer = json as SubCaResponse;
        const problem = checkSignedSubCa(answer, inputs);
        if (problem) {
            throw new Error(`the provider bridge's Sub-CA for ${inputs.tenantId} is unusable: ${problem}`);
        }
        const outs: SignedSubCaOutputs = {
            ...inputs,
            certificatePem: answer.certificate_pem,
            chainPem: [...answer.chain_pem],
        };
        return { id: `${inputs.tenantId}-sub-ca`, outs };
    },
    async diff(_id: string, olds: SignedSubCaOutputs, news: SignedSubCaInputs) {
        // Only a new key, request, tenant or constraint set needs a new certificate; a moved bridge
        // or a rotated credential is an update.
        const replaces = (["tenantId", "csrPem", "publicKeyPem", "permittedNames"] as const).filter(
            (k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]),
        );
        const updates = (["bridgeUrl", "token", "issuerPem", "rootPem"] as const).filter(
            (k) => olds[k] !== news[k],
        );
        return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: false };
    },
    async update(_id: string, olds: SignedSubCaOutputs, news: SignedSubCaInputs) {
        return {
            outs: {
                ...olds,
                bridgeUrl: news.bridgeUrl,
                token: news.token,
                issuerPem: news.issuerPem,
                rootPem: news.rootPem,
            },
        };
    },
    async delete(_id: string, props: SignedSubCaOutputs) {
        const { X509Certificate } = require("node:crypto") as typeof import("node:crypto");
        const url = new URL(subCaPath(props.tenantId), props.bridgeUrl);
        // Revoke exactly this certificate: when replaced, its successor already exists.
        url.searchParams.set("serial", new X509Certificate(props.certificatePem).serialNumber.toLowerCase());
        const { status, json } = await callBridge("DELETE", url.toString(), props.token);
        if (status !== 200 && status !== 204 && status !== 404) {
            throw new Error(
                `the provider bridge did not revoke the Sub-CA of ${props.tenantId}: ${refusal(status, json)}`,
            );
        }
    },
};

/** Arguments of a SignedSubCa, as Pulumi inputs. */
export type SignedSubCaArgs = { readonly [K in keyof SignedSubCaInputs]: pulumi.Input<SignedSubCaInputs[K]> };

/**
 * A tenant's Sub-CA certificate, signed by the provider through the provider bridge's onboarding
 * API; the provider's intermediate key never leaves the provider.
 */
export class SignedSubCa extends pulumi.dynamic.Resource {
    // `declare`: a class field would overwrite the value the dynamic resource constructor set.
    declare public readonly certificatePem: pulumi.Output<string>;
    declare public readonly chainPem: pulumi.Output<string[]>;

    constructor(name: string, args: SignedSubCaArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            signedSubCaProvider,
            name,
            { ...args, certificatePem: undefined, chainPem: undefined },
            { ...opts, additionalSecretOutputs: ["token"] },
        );
    }
}
