import * as pulumi from "@pulumi/pulumi";
import { FederationClientResponse, federationClientPath } from "../../runtime/shared/onboarding";
import { callBridge, refusal } from "../onboarding/bridge-call";

interface FederationClientInputs {
    /** Base URL of the provider bridge. */
    readonly bridgeUrl: string;
    readonly tenantId: string;
    /** The tenant realm's broker endpoint. */
    readonly redirectUri: string;
    /** The platform automation credential. */
    readonly token: string;
}

interface FederationClientOutputs extends FederationClientInputs {
    readonly clientId: string;
    readonly clientSecret: string;
}

/** The dynamic provider: the provider bridge creates the client in the platform realm. */
export const federationClientProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: FederationClientInputs) {
        const url = new URL(federationClientPath(inputs.tenantId), inputs.bridgeUrl).toString();
        const { status, json } = await callBridge("POST", url, inputs.token, {
            redirect_uri: inputs.redirectUri,
        });
        const answer = json as FederationClientResponse | undefined;
        if ((status !== 200 && status !== 201) || !answer?.client_id || !answer.client_secret) {
            throw new Error(
                `the provider bridge did not create the federation client of ${inputs.tenantId}: ${refusal(status, json)}`,
            );
        }
        const outs: FederationClientOutputs = {
            ...inputs,
            clientId: answer.client_id,
            clientSecret: answer.client_secret,
        };
        return { id: `${inputs.tenantId}-federation-client`, outs };
    },
    async diff(_id: string, olds: FederationClientOutputs, news: FederationClientInputs) {
        // A moved bridge or a rotated credential is an update; only a new tenant or realm needs a new client.
        const replaces = (["tenantId", "redirectUri"] as const).filter((k) => olds[k] !== news[k]);
        const updates = (["bridgeUrl", "token"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: true };
    },
    async update(_id: string, olds: FederationClientOutputs, news: FederationClientInputs) {
        return { outs: { ...olds, bridgeUrl: news.bridgeUrl, token: news.token } };
    },
    async delete(_id: string, props: FederationClientOutputs) {
        const url = new URL(federationClientPath(props.tenantId), props.bridgeUrl).toString();
        const { status, json } = await callBridge("DELETE", url, props.token);
        if (status !== 200 && status !== 204 && status !== 404) {
            throw new Error(
                `the provider bridge did not remove the federation client of ${props.tenantId}: ${refusal(status, json)}`,
            );
        }
    },
};

/**
 * A tenant's federation client in the platform realm, made by the provider bridge's onboarding
 * API: the tenant stack never holds provider admin credentials.
 */
export class FederationClient extends pulumi.dynamic.Resource {
    // `declare`: a class field would overwrite the value the dynamic resource constructor set.
    declare public readonly clientId: pulumi.Output<string>;
    declare public readonly clientSecret: pulumi.Output<string>;

    constructor(
        name: string,
        args: { [K in keyof FederationClientInputs]: pulumi.Input<FederationClientInputs[K]> },
        opts?: pulumi.CustomResourceOptions,
    ) {
        super(
            federationClientProvider,
            name,
            { ...args, token: pulumi.secret(args.token), clientId: undefined, clientSecret: undefined },
            { ...opts, additionalSecretOutputs: ["token", "clientSecret"] },
        );
    }
}
