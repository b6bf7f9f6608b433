import { FastifyInstance } from "fastify";
import { mapperUsername } from "../../../components/thingsboard/users";
import { AccessDenied } from "../../shared/auth/access-token";
import { actorOf, requireUser } from "../auth";
import { ApiError, toApiError } from "../errors";
import { loginOutcome, principalSubject, thingsboardKinds, thingsboardUser } from "../thingsboard-login";
import { bindLogin, listBindings, removeBinding } from "../thingsboard-users";
import { admins, errorResponses, TenantRoutes } from "./context";

const binding = {
    type: "object",
    properties: {
        email: { type: "string" },
        subject: { type: "string" },
        kind: { type: "string", enum: thingsboardKinds },
        firstLoginAt: { type: "string", format: "date-time" },
        lastLoginAt: { type: "string", format: "date-time" },
    },
} as const;

/**
 * ThingsBoard's login mapper (with ThingsBoard's credential), and the e-mail bindings it keeps
 * (runtime/bridge/thingsboard-users.ts) for tenant administrators.
 */
export function thingsboardRoutes(app: FastifyInstance, r: TenantRoutes): void {
    app.post<{ Body: unknown; Headers: { "provider-access-token"?: string } }>(
        "/webhooks/thingsboard/login",
        {
            schema: {
                summary:
                    "ThingsBoard's custom OAuth2 mapper: the ThingsBoard user of a Keycloak login (tenant-admin or operator), from the login's access token",
                description:
                    "ThingsBoard posts the login's principal (as text) with Basic auth `thingsboard:<its token>` and the login's access token in `provider-access-token`.",
                tags: ["services"],
                security: [{ basic: [] }],
                body: { anyOf: [{ type: "string" }, { type: "object" }] },
                response: {
                    200: {
                        type: "object",
                        properties: {
                            email: { type: "string" },
                            firstName: { type: "string" },
                            lastName: { type: "string" },
                            tenantName: { type: "string" },
                            customerName: { type: "string" },
                            alwaysFullScreen: { type: "boolean" },
                        },
                    },
                    ...errorResponses(400, 401, 403, 409, 422),
                },
            },
        },
        async (request) => {
            try {
                r.services.requireBasic(request, mapperUsername);
                const token = request.headers["provider-access-token"];
                if (typeof token !== "string" || token === "") {
                    throw new AccessDenied(
                        401,
                        "the login's access token (provider-access-token) is missing",
                    );
                }
                const caller = await r.verifyLogin(token);
                const user = thingsboardUser(caller, principalSubject(request.body), r.tenant.thingsboard);
                await bindLogin(r.deps.db, user, caller.subject);
                const outcome = loginOutcome(user);
                r.metrics.thingsboardLogins.inc({ outcome });
                request.log.info({ subject: caller.subject, as: outcome }, "ThingsBoard login mapped");
                return user;
            } catch (error) {
                // The error handler logs the refusal; its code is the metric's outcome.
                const refusal = toApiError(error);
                r.metrics.thingsboardLogins.inc({ outcome: refusal.code });
                throw refusal;
            }
        },
    );

    app.get(
        "/thingsboard/users",
        {
            schema: {
                summary: "The ThingsBoard user each e-mail was first mapped to: Keycloak subject and kind",
                tags: ["thingsboard"],
                response: { 200: { type: "array", items: binding }, ...errorResponses(401, 403) },
            },
        },
        async (request) => {
            await requireUser(r.verify, request, admins);
            return listBindings(r.deps.db);
        },
    );

    app.delete<{ Params: { email: string } }>(
        "/thingsboard/users/:email",
        {
            schema: {
                summary:
                    "Forget an e-mail's binding, after deleting its ThingsBoard user: the next login makes the user anew with its current roles",
                tags: ["thingsboard"],
                params: {
                    type: "object",
                    required: ["email"],
                    properties: { email: { type: "string", minLength: 3, maxLength: 254 } },
                },
                response: { 204: { type: "null" }, ...errorResponses(401, 403, 404) },
            },
        },
        async (request, reply) => {
            const principal = await requireUser(r.verify, request, admins);
            if (!(await removeBinding(r.deps.db, request.params.email))) {
                throw new ApiError(
                    404,
                    "binding_not_found",
                    `no ThingsBoard login is bound to ${request.params.email}`,
                );
            }
            request.log.info({ actor: actorOf(principal) }, "ThingsBoard login binding removed");
            return reply.code(204).send();
        },
    );
}
