import { FastifyInstance } from "fastify";
import { ttydPort } from "../device-settings";
import { findDevice } from "../devices";
import { ApiError } from "../errors";
import { deviceConnected } from "../lifecycle";
import { terminalCredential } from "../terminal-credential";
import { errorResponses, schemas, TenantRoutes } from "./context";

/** Longest a peer-feed request may wait for a change. */
const maxWaitSeconds = 55;

/** Routes for the tenant's own services, each with its own credential. */
export function serviceRoutes(app: FastifyInstance, r: TenantRoutes): void {
    app.get<{ Params: { id: string } }>(
        "/devices/:id/wireguard",
        {
            schema: {
                summary: "A device's VPN address and ttyd credential, for the terminal proxy",
                tags: ["services"],
                params: { type: "object", required: ["id"], properties: { id: schemas.deviceId } },
                response: {
                    200: {
                        type: "object",
                        properties: {
                            device_id: { type: "string" },
                            address: { type: "string" },
                            public_key: { type: "string" },
                            terminal: {
                                type: "object",
                                properties: {
                                    port: { type: "integer" },
                                    username: { type: "string" },
                                    password: { type: "string" },
                                },
                            },
                        },
                    },
                    ...errorResponses(401, 404),
                },
            },
        },
        async (request) => {
            r.services.require(request, "terminal-proxy");
            const device = await findDevice(r.deps.db, request.params.id);
            if (!device)
                throw new ApiError(404, "device_not_found", `device ${request.params.id} is not enrolled`);
            return {
                device_id: device.id,
                address: device.wireguardAddress,
                public_key: device.wireguardPublicKey,
                terminal: {
                    port: ttydPort,
                    ...terminalCredential(
                        r.tenant.terminalCredentialKey,
                        r.tenant.tenantId,
                        device.id,
                        device.wireguardPublicKey,
                    ),
                },
            };
        },
    );

    app.get<{ Querystring: { since?: number; wait: number } }>(
        "/wireguard/peers",
        {
            schema: {
                summary:
                    "The peer list: without `since` the full list and its revision; with `since` the changes after it, waiting up to `wait` seconds for one",
                tags: ["services"],
                querystring: {
                    type: "object",
                    additionalProperties: false,
                    properties: {
                        since: { type: "integer", minimum: 0 },
                        wait: { type: "integer", minimum: 0, maximum: maxWaitSeconds, default: 0 },
                    },
                },
                response: {
                    200: { type: "object", additionalProperties: true },
                    ...errorResponses(400, 401),
                },
            },
        },
        async (request) => {
            r.services.require(request, "peer-agent");
            const { since, wait } = request.query;
            if (since === undefined) return r.deps.feed.full();
            const closed = new AbortController();
            request.raw.once("close", () => closed.abort());
            return r.deps.feed.poll(since, wait * 1000, AbortSignal.any([closed.signal, r.shutdown]));
        },
    );

    app.post<{ Body: { device_id: string } }>(
        "/webhooks/thingsboard/connect",
        {
            schema: {
                summary: "ThingsBoard's connect event: records the connection, ensures the OTA target",
                tags: ["services"],
                body: {
                    type: "object",
                    required: ["device_id"],
                    properties: { device_id: schemas.deviceId },
                },
                response: { 200: schemas.device, ...errorResponses(400, 401, 404, 503) },
            },
        },
        async (request) => {
            r.services.require(request, "thingsboard");
            const view = await deviceConnected(r.deps, request.body.device_id);
            r.metrics.lifecycle.inc({ operation: "connect", outcome: "recorded" });
            return view;
        },
    );
}
