/**
 * The provider RabbitMQ's definitions as typed data, rendered to the definitions JSON that
 * RabbitMQ imports at boot: the `cdm-metrics` vhost; the `cdm.telemetry` topic exchange tenants
 * publish to and the intake queue bound to it with `tenant.#`, which the telemetry gate
 * (runtime/telemetry-gate) consumes; the `cdm.telemetry.admitted` exchange the gate forwards
 * what it admits to and Telegraf's queue bound to that; the policy that bounds both queues; and
 * the broker's own three users with their permissions. Tenants' publishers are not here: the provider bridge makes them at
 * runtime through the management API (runtime/shared/rabbitmq-admin.ts), and a boot-time import
 * never deletes what it does not name, so they survive restarts.
 *
 * Pure: the RabbitMq component, the unit tests and the integration peer
 * (scripts/peers/rabbitmq.sh) all render the broker's topology from here.
 *
 * Users carry RabbitMQ's salted SHA-256 password hashes, never passwords; the rendered file is
 * still a credential (RabbitMQ's docs call exported user records sensitive) and only ever goes to
 * a Secret.
 */
import { createHash, createHmac } from "node:crypto";
import { metricsVhost, telemetryExchange } from "../../runtime/shared/onboarding";
import { literal } from "../../runtime/shared/regex";
import { gateTopology } from "../../runtime/telemetry-gate/gate";

/** The durable queue Telegraf consumes; the gate forwards every admitted message to it. */
export const telegrafQueue = "cdm.telemetry.admitted.telegraf";
/**
 * Telegraf's queue before the gate, bound straight to tenants' exchange. A boot-time import never
 * deletes it or its binding, so on a broker deployed before the gate it would still take every
 * tenant's messages past the gate; nothing reads it any more, and `retiredQueuePolicy` keeps it
 * empty (a queue of length 0 drops whatever arrives).
 */
export const retiredTelegrafQueue = "cdm.telemetry.telegraf";
/** The policy that empties the retired queue. */
export const retiredQueuePolicy = "retired-telegraf-queue";
/** The gate's queue, where every tenant's telemetry arrives; the exchange it forwards to. */
export const { intakeQueue, admittedExchange } = gateTopology;
/** Both queues' bindings: every routing key of every tenant (`tenant.<id>.<device>`), nothing else. */
export const telegrafBindingKey = "tenant.#";
/**
 * The policy that bounds the intake queue and Telegraf's (named when it bounded Telegraf's alone;
 * kept, so that a broker's boot-time import updates it in place rather than adding a second).
 */
export const telegrafQueuePolicy = "telegraf-queue-limits";

/**
 * The broker's own users. `bridge` is the provider bridge's management API user, which keeps
 * tenants' publishers (PUT/DELETE `/api/users/{user}`, PUT `/api/permissions/…` and
 * `/api/topic-permissions/…`, DELETE `/api/connections/username/{user}`). RabbitMQ lets only
 * users tagged `administrator` manage users and permissions; no narrower tag exists. Its vhost
 * permissions are none at all: it cannot open an AMQP connection, read a queue or publish, so
 * the credential is only good against the management API, which only the bridge's pods reach.
 * (An administrator can grant itself permissions, so that API's NetworkPolicy is what bounds it.)
 * `telemetry-gate` consumes the intake queue and publishes to the admitted exchange, nothing
 * else; tenants' publishers write only `cdm.telemetry`, so nothing reaches Telegraf's queue but
 * through the gate. `telegraf` consumes Telegraf's queue and nothing else. There is no `guest` and no human
 * account: a blank node importing definitions creates neither, and operators use
 * `rabbitmqctl` in the pod, which authenticates with the node's Erlang cookie.
 */
export const rabbitmqUsers = {
    bridge: { username: "cdm-bridge", tags: ["administrator"] },
    gate: { username: "telemetry-gate", tags: [] },
    telegraf: { username: "telegraf", tags: [] },
} as const satisfies Record<string, { username: string; tags: readonly string[] }>;

export type RabbitmqUserName = keyof typeof rabbitmqUsers;

/**
 * Telegraf's permissions: read its queue only (consume, get, ack). No configure and no write, so
 * it cannot declare, bind, delete or publish; Telegraf's `amqp_consumer` therefore runs with
 * `telegrafAmqpConsumer`'s settings, which skip the exchange declaration and the binding and
 * declare the queue passively (a passive declare needs no permission).
 */
export const telegrafPermissions = { configure: "^$", write: "^$", read: `^${literal(telegrafQueue)}$` };

/**
 * The gate's permissions: read (consume) the intake queue, write (publish) the admitted exchange.
 * No configure: it declares nothing. No topic restriction: it forwards every tenant's keys.
 */
export const gatePermissions = {
    configure: "^$",
    write: `^${literal(admittedExchange)}$`,
    read: `^${literal(intakeQueue)}$`,
};

/** The `inputs.amqp_consumer` settings Telegraf's permissions are made for. */
export const telegrafAmqpConsumer = {
    /** Empty: Telegraf declares no exchange (that would need configure on it). */
    exchange: "",
    queue: telegrafQueue,
    /** Only checks that the queue exists; its type and limits stay the broker's. */
    queue_passive: true,
    /** Empty: Telegraf binds nothing (that would need write on the queue); the definitions bind it. */
    binding_key: "",
} as const;

/**
 * How much each of the two queues holds while its consumer is stopped or slow. The queue drops its oldest
 * messages beyond either limit (`drop-head`): publishers are never refused or blocked, and what
 * remains is the newest telemetry, which is what a platform dashboard wants after an outage.
 * (`reject-publish` would instead fail every tenant's rule chain until Telegraf is back, and
 * without a bound the queue would fill the volume until RabbitMQ's disk alarm blocked every
 * publisher.) The limits must fit the data volume with its free-space reserve: see rabbitmq.ts.
 */
export interface QueueLimits {
    /** Messages held at most. */
    readonly maxLength: number;
    /** Bytes of message bodies held at most. */
    readonly maxLengthBytes: number;
    /**
     * Deliveries of one message before the queue drops it: a message that crashes its consumer
     * every time cannot block the queue (quorum queues count redeliveries).
     */
    readonly deliveryLimit: number;
}

/**
 * One GiB or a million messages: a few hours of platform telemetry at hundreds of messages a
 * second, well inside the data volume.
 */
export const telegrafQueueLimits: QueueLimits = {
    maxLength: 1_000_000,
    maxLengthBytes: 1024 ** 3,
    deliveryLimit: 20,
};

/** A user as the definitions file carries it: hashed password, tags. */
export interface DefinitionsUser {
    readonly name: string;
    readonly password_hash: string;
    readonly hashing_algorithm: "rabbit_password_hashing_sha256";
    readonly tags: readonly string[];
}

export interface DefinitionsPermission {
    readonly user: string;
    readonly vhost: string;
    readonly configure: string;
    readonly write: string;
    readonly read: string;
}

export interface DefinitionsExchange {
    readonly name: string;
    readonly vhost: string;
    readonly type: "topic";
    readonly durable: boolean;
    readonly auto_delete: boolean;
    readonly internal: boolean;
    readonly arguments: Readonly<Record<string, unknown>>;
}

export interface DefinitionsQueue {
    readonly name: string;
    readonly vhost: string;
    readonly durable: boolean;
    readonly auto_delete: boolean;
    readonly arguments: Readonly<Record<string, unknown>>;
}

export interface DefinitionsBinding {
    readonly source: string;
    readonly vhost: string;
    readonly destination: string;
    readonly destination_type: "queue";
    readonly routing_key: string;
    readonly arguments: Readonly<Record<string, unknown>>;
}

export interface DefinitionsPolicy {
    readonly vhost: string;
    readonly name: string;
    readonly pattern: string;
    readonly "apply-to": "queues";
    readonly priority: number;
    readonly definition: Readonly<Record<string, string | number>>;
}

/** RabbitMQ's definitions file, limited to what the platform declares. */
export interface Definitions {
    readonly users: readonly DefinitionsUser[];
    readonly vhosts: readonly { readonly name: string }[];
    readonly permissions: readonly DefinitionsPermission[];
    readonly exchanges: readonly DefinitionsExchange[];
    readonly queues: readonly DefinitionsQueue[];
    readonly bindings: readonly DefinitionsBinding[];
    readonly policies: readonly DefinitionsPolicy[];
}

/**
 * RabbitMQ's `rabbit_password_hashing_sha256` hash of `password`: base64 of a 4-byte salt and
 * SHA-256(salt ‖ password). The salt is derived from the user and the password (not random), so
 * the rendered definitions, and with them the Secret and the pod's checksum, change only when a
 * password does: a random salt would rewrite the Secret and restart the broker on every update.
 * It still differs per user and per password; the passwords are 32 random characters, so the
 * salt has no dictionary to defend against.
 */
export function passwordHash(username: string, password: string): string {
    const salt = createHmac("sha256", password).update(`rabbitmq-salt:${username}`).digest().subarray(0, 4);
    const digest = createHash("sha256").update(salt).update(password).digest();
    return Buffer.concat([salt, digest]).toString("base64");
}

/** A user of the definitions file with the hash of `password`. */
export function definitionsUser(
    username: string,
    password: string,
    tags: readonly string[],
): DefinitionsUser {
    return {
        name: username,
        password_hash: passwordHash(username, password),
        hashing_algorithm: "rabbit_password_hashing_sha256",
        tags: [...tags],
    };
}

/**
 * The policy that bounds the intake queue and Telegraf's. A policy rather than queue arguments: a boot-time
 * import updates policies in place (a queue's arguments are fixed at declaration), so changed
 * limits apply at the next start without recreating the queue.
 */
export function telegrafPolicy(limits: QueueLimits): DefinitionsPolicy {
    return {
        vhost: metricsVhost,
        name: telegrafQueuePolicy,
        pattern: `^(${literal(intakeQueue)}|${literal(telegrafQueue)})$`,
        "apply-to": "queues",
        priority: 0,
        definition: {
            "max-length": limits.maxLength,
            "max-length-bytes": limits.maxLengthBytes,
            overflow: "drop-head",
            "delivery-limit": limits.deliveryLimit,
        },
    };
}

/**
 * The provider broker's definitions for the given passwords.
 *
 * Both queues are quorum queues: durable, its messages written to a replicated log and
 * fsynced before a publisher confirm; the queue type RabbitMQ 4 recommends for durable data
 * (classic mirrored queues are gone). With one node it has one member; when the broker grows
 * to three, `rabbitmq-queues grow` adds members in place, whereas a classic queue would have to
 * be deleted and redeclared (a queue's type cannot change). It also counts redeliveries, which
 * the delivery limit needs.
 */
export function metricsBrokerDefinitions(
    passwords: Readonly<Record<RabbitmqUserName, string>>,
    limits: QueueLimits = telegrafQueueLimits,
): Definitions {
    const { bridge, gate, telegraf } = rabbitmqUsers;
    const exchange = (name: string): DefinitionsExchange => ({
        name,
        vhost: metricsVhost,
        type: "topic",
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: {},
    });
    const queue = (name: string): DefinitionsQueue => ({
        name,
        vhost: metricsVhost,
        durable: true,
        auto_delete: false,
        arguments: { "x-queue-type": "quorum" },
    });
    const binding = (source: string, destination: string): DefinitionsBinding => ({
        source,
        vhost: metricsVhost,
        destination,
        destination_type: "queue",
        routing_key: telegrafBindingKey,
        arguments: {},
    });
    return {
        users: [
            definitionsUser(bridge.username, passwords.bridge, bridge.tags),
            definitionsUser(gate.username, passwords.gate, gate.tags),
            definitionsUser(telegraf.username, passwords.telegraf, telegraf.tags),
        ],
        vhosts: [{ name: metricsVhost }],
        // The bridge has none: see rabbitmqUsers.
        permissions: [
            { user: gate.username, vhost: metricsVhost, ...gatePermissions },
            { user: telegraf.username, vhost: metricsVhost, ...telegrafPermissions },
        ],
        exchanges: [exchange(telemetryExchange), exchange(admittedExchange)],
        queues: [queue(intakeQueue), queue(telegrafQueue)],
        bindings: [binding(telemetryExchange, intakeQueue), binding(admittedExchange, telegrafQueue)],
        policies: [
            telegrafPolicy(limits),
            {
                vhost: metricsVhost,
                name: retiredQueuePolicy,
                pattern: `^${literal(retiredTelegrafQueue)}$`,
                "apply-to": "queues",
                priority: 0,
                definition: { "max-length": 0, overflow: "drop-head" },
            },
        ],
    };
}

/** The definitions file's text: stable key order, two-space indentation, a final newline. */
export function renderDefinitions(definitions: Definitions): string {
    return `${JSON.stringify(definitions, null, 2)}\n`;
}
