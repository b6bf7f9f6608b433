import { FastifyInstance } from "fastify";
import { bearerToken } from "../auth";
import { ensureFederationClient, removeFederationClient } from "../federation";
import { authenticateTenant } from "../onboarding";
import { errorResponses } from "./context";
import { configured, federationClientRoute, ProviderRoutes, tenantParams } from "./provider-context";

/** Each tenant's federation client in the platform realm, through its onboarding credential. */
export function federationRoutes(app: FastifyInstance, r: ProviderRoutes): void {
    const keycloak = () =>
        configured(r.keycloak, "federation_not_configured", "this provider bridge manages no platform realm");

    app.post<{ Params: { tenantId: string }; Body: { redirect_uri: string } }>(
        federationClientRoute,
        {
            schema: {
                summary: "Create (or return) the tenant's federation client in the platform realm",
                tags: ["onboarding"],
                params: tenantParams,
                body: {
                    type: "object",
                    required: ["redirect_uri"],
                    additionalProperties: false,
                    properties: { redirect_uri: { type: "string", minLength: 1, maxLength: 2048 } },
                },
                response: {
                    201: {
                        type: "object",
                        properties: { client_id: { type: "string" }, client_secret: { type: "string" } },
                    },
                    ...errorResponses(400, 401, 403, 501, 503),
                },
            },
        },
        async (request, reply) => {
            const { tenantId } = request.params;
            const tenant = await authenticateTenant(r.db, tenantId, bearerToken(request));
            const answer = await ensureFederationClient(
                r.db,
                keycloak(),
                tenantId,
                tenant,
                request.body.redirect_uri,
            );
            request.log.info({ tenantId, clientId: answer.client_id }, "federation client ensured");
            return reply.code(201).send(answer);
        },
    );

    app.delete<{ Params: { tenantId: string } }>(
        federationClientRoute,
        {
            schema: {
                summary: "Remove the tenant's federation client",
                tags: ["onboarding"],
                params: tenantParams,
                response: { 204: { type: "null" }, ...errorResponses(401, 403, 404, 501, 503) },
            },
        },
        async (request, reply) => {
            const { tenantId } = request.params;
            await authenticateTenant(r.db, tenantId, bearerToken(request));
            await removeFederationClient(r.db, keycloak(), tenantId);
            request.log.info({ tenantId }, "federation client removed");
            return reply.code(204).send();
        },
    );
}
