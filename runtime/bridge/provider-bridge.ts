import { FastifyInstance } from "fastify";
import { StepCaClient } from "../shared/step-ca";
import { buildApiServer } from "./app";
import { actorOf, bearerToken, requireUser, TokenVerifier } from "./auth";
import { BridgeConfig } from "./config";
import { Database } from "./db/database";
import { errorResponses } from "./routes/context";
import { BridgeMetrics } from "./metrics";
import { authenticateTenant, registerTenant, revokeSubCa, signSubCa, SubCaSigning } from "./onboarding";

/** Everything the provider bridge's API is made of. */
export interface ProviderBridgeParts {
    readonly db: Database;
    readonly stepCa: StepCaClient;
    readonly config: BridgeConfig;
    readonly verify: TokenVerifier;
    readonly metrics: BridgeMetrics;
    readonly logLevel: string;
}

/** The route of `subCaPath` (runtime/shared/onboarding.ts); a unit test keeps them equal. */
export const subCaRoute = "/v1/tenants/:tenantId/sub-ca";

const tenantParams = {
    type: "object",
    required: ["tenantId"],
    properties: { tenantId: { type: "string", minLength: 1, maxLength: 63 } },
} as const;

/** The provider bridge's API: tenant registration (platform admins) and onboarding (tenant stacks). */
export function providerBridgeApi(parts: ProviderBridgeParts): Promise<FastifyInstance> {
    const { config, db } = parts;
    const signing: SubCaSigning = {
        db,
        stepCa: parts.stepCa,
        audienceHost: config.stepCa.audienceHost,
        provisioner: config.stepCa.provisioner,
        rootPem: config.stepCa.rootPem,
        intermediatePem: config.provider!.intermediatePem,
    };
    return buildApiServer(
        config.listen,
        parts.metrics,
        parts.logLevel,
        "IoT Bridge API (provider)",
        (app) => {
            app.post<{ Body: { tenant_id: string; namespace?: string } }>(
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
                                tenant_id: { type: "string", minLength: 1, maxLength: 63 },
                                namespace: { type: "string", minLength: 1, maxLength: 63 },
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
                    const principal = await requireUser(parts.verify, request, ["platform-admin"]);
                    const { tenant_id: tenantId, namespace } = request.body;
                    const registered = await registerTenant(
                        db,
                        tenantId,
                        namespace ?? `cdm-tenant-${tenantId}`,
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
                    const namespace = await authenticateTenant(db, tenantId, bearerToken(request));
                    const answer = await signSubCa(
                        signing,
                        tenantId,
                        request.body.csr_pem,
                        namespace,
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
                    await authenticateTenant(db, tenantId, bearerToken(request));
                    await revokeSubCa(signing, tenantId, request.query.serial, `tenant:${tenantId}`);
                    request.log.info({ tenantId, serial: request.query.serial }, "tenant Sub-CA revoked");
                    return reply.code(204).send();
                },
            );
        },
    );
}
