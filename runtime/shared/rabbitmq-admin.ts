/**
 * A small client of RabbitMQ's management HTTP API, as the provider bridge uses it to keep each
 * tenant's publisher: a user that may only publish to the telemetry exchange, and only with
 * routing keys of its own tenant (a topic permission).
 */

import { literal } from "./regex";

/** RabbitMQ answered something other than what the call needs. */
export class RabbitmqAdminError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
        this.name = "RabbitmqAdminError";
    }
}

export interface RabbitmqAdminOptions {
    /** The management API's base URL, for example `http://rabbitmq:15672`. */
    readonly url: string;
    readonly username: string;
    readonly password: string;
    readonly timeoutMs?: number;
}

/** A publisher: one user, one vhost, one exchange, routing keys under one prefix. */
export interface PublisherGrant {
    readonly username: string;
    readonly password: string;
    readonly vhost: string;
    readonly exchange: string;
    readonly routingKeyPrefix: string;
}

/** The permissions of a publisher: write to the exchange, nothing else; its topic permission. */
export function publisherPermissions(grant: Omit<PublisherGrant, "username" | "password">) {
    return {
        permissions: { configure: "^$", write: `^${literal(grant.exchange)}$`, read: "^$" },
        topic: { exchange: grant.exchange, write: `^${literal(grant.routingKeyPrefix)}`, read: "^$" },
    };
}

export class RabbitmqAdmin {
    constructor(private readonly options: RabbitmqAdminOptions) {}

    /**
     * Creates the user or sets its new password, then (re)sets its permissions and topic
     * permission, so that whatever existed converges on exactly this grant.
     */
    async ensurePublisher(grant: PublisherGrant): Promise<void> {
        const user = encodeURIComponent(grant.username);
        const vhost = encodeURIComponent(grant.vhost);
        const { permissions, topic } = publisherPermissions(grant);
        await this.call("PUT", `/api/users/${user}`, { password: grant.password, tags: "" });
        await this.call("PUT", `/api/permissions/${vhost}/${user}`, permissions);
        await this.call("PUT", `/api/topic-permissions/${vhost}/${user}`, topic);
        // Connections opened with the old password are closed (from connection tracking, not the
        // statistics database, which would miss connections of the last few seconds).
        await this.call("DELETE", `/api/connections/username/${user}`, undefined, [404]);
    }

    /** Deletes the user; false when there was none. */
    async deleteUser(username: string): Promise<boolean> {
        const status = await this.call(
            "DELETE",
            `/api/users/${encodeURIComponent(username)}`,
            undefined,
            [404],
        );
        return status !== 404;
    }

    private async call(
        method: string,
        path: string,
        body?: unknown,
        tolerated: number[] = [],
    ): Promise<unknown> {
        const { url, username, password } = this.options;
        const res = await fetch(`${url}${path}`, {
            method,
            headers: {
                authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`,
                ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        const text = await res.text();
        if (tolerated.includes(res.status)) return res.status;
        if (!res.ok) {
            throw new RabbitmqAdminError(
                res.status,
                `RabbitMQ answered ${res.status} to ${method} ${path.split("?")[0]}`,
            );
        }
        return text ? JSON.parse(text) : undefined;
    }
}
