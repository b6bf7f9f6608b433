import * as pulumi from "@pulumi/pulumi";
import { subCaPath, SubCaResponse } from "../../runtime/shared/onboarding";
import { checkSignedSubCa } from "../../runtime/shared/sub-ca-check";
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
