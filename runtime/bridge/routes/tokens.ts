import { FastifyInstance } from "fastify";
import { actorOf, requireUser } from "../auth";
import { isDeviceId } from "../device-csr";
import { issueToken, listTokens, revokeToken } from "../enrollment-tokens";
import { ApiError } from "../errors";
import { admins, errorResponses, schemas, TenantRoutes } from "./context";

/** Enrollment-token management, for tenant admins. */
export function tokenRoutes(app: FastifyInstance, r: TenantRoutes): void {
    app.post<{ Body: { device_id?: string; max_uses?: number; ttl_seconds: number; reenroll?: boolean } }>(
        "/enrollment-tokens",
        {
            schema: {
                summary: "Issue an enrollment token: for one device (works once) or a batch (max_uses)",
                tags: ["enrollment tokens"],
                body: {
                    type: "object",
                    required: ["ttl_seconds"],
                    additionalProperties: false,
                    properties: {
                        device_id: schemas.deviceId,
                        max_uses: { type: "integer", minimum: 1, maximum: 100000 },
                        ttl_seconds: { type: "integer", minimum: 60, maximum: 90 * 24 * 3600 },
                        reenroll: { type: "boolean" },
                    },
                },
                response: {
                    201: {
                        type: "object",
                        properties: {
                            id: { type: "string" },
                            token: { type: "string" },
                            expires_at: { type: "string", format: "date-time" },
                        },
                    },
                    ...errorResponses(400, 401, 403),
                },
            },
        },
        async (request, reply) => {
            const principal = await requireUser(r.verify, request, admins);
            const {
                device_id: deviceId,
                max_uses: maxUses,
                ttl_seconds: ttlSeconds,
                reenroll,
            } = request.body;
            if (deviceId !== undefined && !isDeviceId(deviceId)) {
                throw new ApiError(400, "invalid_device_id", `"${deviceId}" is not a device id`);
            }
            if (reenroll && deviceId === undefined) {
                throw new ApiError(
                    400,
                    "invalid_reenroll",
                    "a token that may re-enroll names its device: a batch token cannot take over enrolled devices",
                );
            }
            if (deviceId !== undefined && maxUses !== undefined && maxUses !== 1) {
                throw new ApiError(
                    400,
                    "invalid_max_uses",
                    "a token for one device works once; leave max_uses out",
                );
            }
            const issued = await issueToken(r.deps.db, {
                deviceId,
                maxUses,
                ttlSeconds,
                reenroll,
                createdBy: actorOf(principal),
            });
            request.log.info(
                { tokenId: issued.id, deviceId, maxUses, actor: actorOf(principal) },
                "enrollment token issued",
            );
            return reply
                .code(201)
                .send({ id: issued.id, token: issued.token, expires_at: issued.expiresAt.toISOString() });
        },
    );

    app.get<{ Querystring: { active: boolean } }>(
        "/enrollment-tokens",
        {
            schema: {
                summary: "List enrollment tokens (never their secrets)",
                tags: ["enrollment tokens"],
                querystring: {
                    type: "object",
                    additionalProperties: false,
                    properties: { active: { type: "boolean", default: false } },
                },
                response: {
                    200: { type: "object", additionalProperties: true },
                    ...errorResponses(401, 403),
                },
            },
        },
        async (request) => {
            await requireUser(r.verify, request, admins);
            return { tokens: await listTokens(r.deps.db, request.query.active) };
        },
    );

    app.delete<{ Params: { id: string } }>(
        "/enrollment-tokens/:id",
        {
            schema: {
                summary: "Revoke an enrollment token",
                tags: ["enrollment tokens"],
                params: {
                    type: "object",
                    required: ["id"],
                    properties: { id: { type: "string", format: "uuid" } },
                },
                response: { 204: { type: "null" }, ...errorResponses(401, 403, 404) },
            },
        },
        async (request, reply) => {
            const principal = await requireUser(r.verify, request, admins);
            if (!(await revokeToken(r.deps.db, request.params.id))) {
                throw new ApiError(404, "token_not_found", `no active enrollment token ${request.params.id}`);
            }
            request.log.info(
                { tokenId: request.params.id, actor: actorOf(principal) },
                "enrollment token revoked",
            );
            return reply.code(204).send();
        },
    );
}
