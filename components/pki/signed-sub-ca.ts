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
    readonly token: string;
}

/** What the resource keeps: the certificate and its chain. */
export interface SignedSubCaOutputs extends SignedSubCaInputs {
    readonly certificatePem: string;
    readonly chainPem: string[];
}

/**
 * Checks an answer of the onboarding API before the tenant trusts it: the certificate carries the
 * tenant's own Sub-CA key, is a CA that may sign leaves only (path length 0), and was issued by
 * the first certificate of the chain. Returns the problem, or undefined when the answer is good.
 */
export function checkSignedSubCa(answer: SubCaResponse, publicKeyPem: string): string | undefined {
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
    let issuer: InstanceType<typeof X509Certificate>;
    try {
        cert = new X509Certificate(answer.certificate_pem);
        issuer = new X509Certificate(answer.chain_pem[0]);
    } catch {
        return "the answer's certificates are not PEM certificates";
    }
    const der = (k: import("node:crypto").KeyObject) =>
        k.export({ type: "spki", format: "der" }).toString("hex");
    if (der(cert.publicKey) !== der(createPublicKey(publicKeyPem))) {
        return "the certificate is not for this tenant's Sub-CA key";
    }
    const bc = new peculiar.X509Certificate(answer.certificate_pem).getExtension(
        peculiar.BasicConstraintsExtension,
    );
    if (!bc?.ca || bc.pathLength !== 0) {
        return "the certificate is not a CA limited to path length 0";
    }
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        return "the certificate was not issued by the first certificate of the chain";
    }
    return undefined;
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
        const problem = checkSignedSubCa(answer, inputs.publicKeyPem);
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
        const replaces = (["bridgeUrl", "tenantId", "csrPem", "publicKeyPem"] as const).filter(
            (k) => olds[k] !== news[k],
        );
        // A new token alone changes nothing that was signed.
        return {
            changes: replaces.length > 0 || olds.token !== news.token,
            replaces,
            deleteBeforeReplace: false,
        };
    },
    async update(_id: string, olds: SignedSubCaOutputs, news: SignedSubCaInputs) {
        return { outs: { ...olds, token: news.token } };
    },
    async delete(_id: string, props: SignedSubCaOutputs) {
        const url = new URL(subCaPath(props.tenantId), props.bridgeUrl).toString();
        const { status, json } = await callBridge("DELETE", url, props.token);
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
