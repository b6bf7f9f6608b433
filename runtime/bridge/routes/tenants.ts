import { FastifyInstance } from "fastify";
import { actorOf, bearerToken, requireUser } from "../auth";
import { authenticateTenant, registerTenant, revokeSubCa, signSubCa } from "../onboarding";
import { errorResponses } from "./context";
import { ProviderRoutes, subCaRoute, tenantParams } from "./provider-context";

/** Tenant registration (platform admins) and Sub-CA signing (each tenant's onboarding credential). */
export function tenantRoutes(app: FastifyInstance, r: ProviderRoutes): void {
    app.post<{ Body: { tenant_id: string; namespace?: string; domain?: string } }>(
        "/v1/tenants",
        {
            schema: {
                summary: "Register a tenant; answers its onboarding credential, shown once",
                tags: ["tenants"],
                body: {
                    type: "object",
                    required: ["tenant_id"],
                    additionalProperties: false,
                    properties: {
                        // 52: the default namespace cdm-tenant-<id> must stay a DNS label.
                        tenant_id: { type: "string", minLength: 1, maxLength: 52 },
                        namespace: { type: "string", minLength: 1, maxLength: 63 },
                        domain: { type: "string", minLength: 1, maxLength: 253 },
                    },
                },
                response: {
                    201: {
                        type: "object",
                        properties: {
                            tenant_id: { type: "string" },
                            namespace: { type: "string" },
                            onboarding_token: { type: "string" },
                        },
                    },
                    ...errorResponses(400, 401, 403, 409),
                },
            },
        },
        async (request, reply) => {
            const principal = await requireUser(r.verify, request, ["platform-admin"]);
            const { tenant_id: tenantId, namespace, domain } = request.body;
            const registered = await registerTenant(
                r.db,
                {
                    id: tenantId,
                    namespace: namespace ?? `cdm-tenant-${tenantId}`,
                    domain: domain ?? r.provider.platformDomain,
                },
                actorOf(principal),
            );
            request.log.info({ tenantId, actor: actorOf(principal) }, "tenant registered");
            return reply.code(201).send({
                tenant_id: registered.tenantId,
                namespace: registered.namespace,
                onboarding_token: registered.onboardingToken,
            });
        },
    );

    app.post<{ Params: { tenantId: string }; Body: { csr_pem: string } }>(
        subCaRoute,
        {
            schema: {
                summary:
                    "Sign the tenant's Sub-CA (CN and name constraints fixed by the tenant's registration)",
                tags: ["onboarding"],
                params: tenantParams,
                body: {
                    type: "object",
                    required: ["csr_pem"],
                    additionalProperties: false,
                    properties: { csr_pem: { type: "string", minLength: 1, maxLength: 16384 } },
                },
                response: {
                    201: {
                        type: "object",
                        properties: {
                            certificate_pem: { type: "string" },
                            chain_pem: { type: "array", items: { type: "string" } },
                        },
                    },
                    ...errorResponses(400, 401, 403, 502, 503),
                },
            },
        },
        async (request, reply) => {
            const { tenantId } = request.params;
            const tenant = await authenticateTenant(r.db, tenantId, bearerToken(request));
            const answer = await signSubCa(
                r.signing,
                tenantId,
                request.body.csr_pem,
                tenant,
                `tenant:${tenantId}`,
            );
            request.log.info({ tenantId }, "tenant Sub-CA signed");
            return reply.code(201).send(answer);
        },
    );

    app.delete<{ Params: { tenantId: string }; Querystring: { serial: string } }>(
        subCaRoute,
        {
            schema: {
                summary: "Revoke exactly one of the tenant's Sub-CA certificates",
                tags: ["onboarding"],
                params: tenantParams,
                querystring: {
                    type: "object",
                    required: ["serial"],
                    additionalProperties: false,
                    properties: { serial: { type: "string", pattern: "^[0-9a-fA-F]{1,64}$" } },
                },
                response: { 204: { type: "null" }, ...errorResponses(400, 401, 403, 404, 502, 503) },
            },
        },
        async (request, reply) => {
            const { tenantId } = request.params;
            await authenticateTenant(r.db, tenantId, bearerToken(request));
            await revokeSubCa(r.signing, tenantId, request.query.serial, `tenant:${tenantId}`);
            request.log.info({ tenantId, serial: request.query.serial }, "tenant Sub-CA revoked");
            return reply.code(204).send();
        },
    );
}
