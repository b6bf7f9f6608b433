import * as pulumi from "@pulumi/pulumi";
import { amqpPublisherPath, AmqpPublisherResponse } from "../../runtime/shared/onboarding";
import { callBridge, refusal } from "./bridge-call";

interface AmqpPublisherInputs {
    /** Base URL of the provider bridge. */
    readonly bridgeUrl: string;
    readonly tenantId: string;
    /** The tenant's onboarding credential. */
    readonly token: string;
}

interface AmqpPublisherOutputs extends AmqpPublisherInputs {
    readonly username: string;
    readonly password: string;
    readonly vhost: string;
    readonly exchange: string;
    readonly routingKeyPrefix: string;
}

/** The dynamic provider: the provider bridge makes the tenant's user on the metrics RabbitMQ. */
export const amqpPublisherProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: AmqpPublisherInputs) {
        const url = new URL(amqpPublisherPath(inputs.tenantId), inputs.bridgeUrl).toString();
        const { status, json } = await callBridge("POST", url, inputs.token);
        const answer = json as AmqpPublisherResponse | undefined;
        if (status !== 201 || !answer?.username || !answer.password) {
            throw new Error(
                `the provider bridge did not make the AMQP publisher of ${inputs.tenantId}: ${refusal(status, json)}`,
            );
        }
        if (answer.routing_key_prefix !== `tenant.${inputs.tenantId}.`) {
            throw new Error(
                `the provider bridge's AMQP publisher is not limited to tenant ${inputs.tenantId}`,
            );
        }
        const outs: AmqpPublisherOutputs = {
            ...inputs,
            username: answer.username,
            password: answer.password,
            vhost: answer.vhost,
            exchange: answer.exchange,
            routingKeyPrefix: answer.routing_key_prefix,
        };
        return { id: `${inputs.tenantId}-amqp-publisher`, outs };
    },
    async diff(_id: string, olds: AmqpPublisherOutputs, news: AmqpPublisherInputs) {
        // Another tenant is another user; a moved bridge or a rotated credential changes nothing there.
        const replaces = olds.tenantId !== news.tenantId ? ["tenantId"] : [];
        const updates = (["bridgeUrl", "token"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: true };
    },
    async update(_id: string, olds: AmqpPublisherOutputs, news: AmqpPublisherInputs) {
        return { outs: { ...olds, bridgeUrl: news.bridgeUrl, token: news.token } };
    },
    async delete(_id: string, props: AmqpPublisherOutputs) {
        const url = new URL(amqpPublisherPath(props.tenantId), props.bridgeUrl).toString();
        const { status, json } = await callBridge("DELETE", url, props.token);
        if (status !== 204 && status !== 404) {
            throw new Error(
                `the provider bridge did not remove the AMQP publisher of ${props.tenantId}: ${refusal(status, json)}`,
            );
        }
    },
};

/**
 * A tenant's publisher on the provider's metrics RabbitMQ, made by the provider bridge's
 * onboarding API: it may publish to the telemetry exchange under `tenant.<id>.` only. Its
 * password is a Pulumi secret; ThingsBoard's rule chain publishes with it.
 */
export class AmqpPublisher extends pulumi.dynamic.Resource {
    // `declare`: a class field would overwrite the value the dynamic resource constructor set.
    declare public readonly username: pulumi.Output<string>;
    declare public readonly password: pulumi.Output<string>;
    declare public readonly vhost: pulumi.Output<string>;
    declare public readonly exchange: pulumi.Output<string>;
    declare public readonly routingKeyPrefix: pulumi.Output<string>;

    constructor(
        name: string,
        args: { [K in keyof AmqpPublisherInputs]: pulumi.Input<AmqpPublisherInputs[K]> },
        opts?: pulumi.CustomResourceOptions,
    ) {
        super(
            amqpPublisherProvider,
            name,
            {
                ...args,
                token: pulumi.secret(args.token),
                username: undefined,
                password: undefined,
                vhost: undefined,
                exchange: undefined,
                routingKeyPrefix: undefined,
            },
            { ...opts, additionalSecretOutputs: ["password", "token"] },
        );
    }
}
