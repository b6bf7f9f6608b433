import { TLSSocket } from "node:tls";
import { FastifyInstance } from "fastify";
import { actorOf, requireUser } from "../auth";
import { terminalCredential } from "../terminal-credential";
import { enrollmentAnswer } from "../device-settings";
import { deviceEvents, deviceView, findDevice, listDevices } from "../devices";
import { enroll } from "../enrollment";
import { ApiError, toApiError } from "../errors";
import { decommission, renew } from "../lifecycle";
import { errorResponses, operators, readers, schemas, TenantRoutes } from "./context";

const idParams = {
    type: "object",
    required: ["id"],
    properties: { id: schemas.deviceId },
} as const;

const pem = { type: "string", minLength: 1, maxLength: 16384 } as const;

/** Enrollment, renewal and the operators' view of the fleet. */
export function deviceRoutes(app: FastifyInstance, r: TenantRoutes): void {
    app.post<{
        Params: { id: string };
        Body: { csr_pem: string; wireguard_public_key: string; enrollment_token: string };
    }>(
        "/devices/:id/enroll",
        {
            schema: {
                summary: "Enroll a device with an enrollment token and a CSR (CN = device id)",
                tags: ["devices"],
                params: idParams,
                body: {
                    type: "object",
                    required: ["csr_pem", "wireguard_public_key", "enrollment_token"],
                    additionalProperties: false,
                    properties: {
                        csr_pem: pem,
                        wireguard_public_key: { type: "string", maxLength: 64 },
                        enrollment_token: { type: "string", maxLength: 128 },
                    },
                },
                response: {
                    201: { type: "object", additionalProperties: true },
                    ...errorResponses(400, 401, 409, 502, 503),
                },
            },
        },
        async (request, reply) => {
            const timer = r.metrics.enrollmentSeconds.startTimer();
            try {
                const enrolled = await enroll(r.deps, {
                    deviceId: request.params.id,
                    csrPem: request.body.csr_pem,
                    wireguardPublicKey: request.body.wireguard_public_key,
                    enrollmentToken: request.body.enrollment_token,
                });
                r.metrics.enrollments.inc({ outcome: enrolled.reenrolled ? "reenrolled" : "enrolled" });
                request.log.info(
                    {
                        deviceId: enrolled.deviceId,
                        address: enrolled.wireguardAddress,
                        serial: enrolled.certificate.serialNumber,
                    },
                    enrolled.reenrolled ? "device re-enrolled" : "device enrolled",
                );
                const answer = enrollmentAnswer(
                    enrolled,
                    r.rootPem,
                    { ...r.tenant.wireguard, serverAddress: r.deps.addresses.serverAddress },
                    r.tenant.services,
                    terminalCredential(
                        r.tenant.terminalCredentialKey,
                        r.tenant.tenantId,
                        enrolled.deviceId,
                        request.body.wireguard_public_key,
                    ),
                );
                return reply.code(201).send(answer);
            } catch (error) {
                r.metrics.enrollments.inc({ outcome: toApiError(error).code });
                throw error;
            } finally {
                timer();
            }
        },
    );

    app.post<{ Params: { id: string }; Body: { csr_pem: string } }>(
        "/devices/:id/renew",
        {
            schema: {
                summary: "Renew a device certificate; the device authenticates with its current one (mTLS)",
                tags: ["devices"],
                params: idParams,
                body: {
                    type: "object",
                    required: ["csr_pem"],
                    additionalProperties: false,
                    properties: { csr_pem: pem },
                },
                response: errorResponses(400, 401, 403, 502, 503),
            },
        },
        async (request) => {
            const socket = request.raw.socket;
            const chain = socket instanceof TLSSocket ? presentedChain(socket) : [];
            const outcome = await renew(r.deps, request.params.id, request.body.csr_pem, {
                der: chain[0],
                intermediates: chain.slice(1),
                rootPem: r.rootPem,
                subCaPem: r.tenant.subCaPem,
            }).then(
                (issued) => ({ issued }),
                (error: unknown) => ({ error }),
            );
            r.metrics.lifecycle.inc({
                operation: "renew",
                outcome: "issued" in outcome ? "renewed" : toApiError(outcome.error).code,
            });
            if (!("issued" in outcome)) throw outcome.error;
            return {
                device_id: request.params.id,
                certificate_pem: outcome.issued.certificatePem,
                chain_pem: outcome.issued.chainPem,
                certificate_not_after: outcome.issued.notAfter.toISOString(),
            };
        },
    );

    app.get<{ Querystring: { limit: number; after?: string } }>(
        "/devices",
        {
            schema: {
                summary: "List devices in id order, a page at a time",
                tags: ["devices"],
                querystring: {
                    type: "object",
                    additionalProperties: false,
                    properties: {
                        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
                        after: schemas.deviceId,
                    },
                },
                response: {
                    200: {
                        type: "object",
                        properties: {
                            devices: { type: "array", items: schemas.device },
                            next: { type: ["string", "null"] },
                        },
                    },
                    ...errorResponses(400, 401, 403),
                },
            },
        },
        async (request) => {
            await requireUser(r.verify, request, readers);
            const devices = await listDevices(r.deps.db, request.query.limit, request.query.after);
            const next = devices.length === request.query.limit ? devices[devices.length - 1].id : null;
            return { devices, next };
        },
    );

    app.get<{ Params: { id: string } }>(
        "/devices/:id",
        {
            schema: {
                summary: "One device: status, address, certificate expiry, connections, audit trail",
                tags: ["devices"],
                params: idParams,
                response: {
                    200: { type: "object", additionalProperties: true },
                    ...errorResponses(401, 403, 404),
                },
            },
        },
        async (request) => {
            await requireUser(r.verify, request, readers);
            const device = await findDevice(r.deps.db, request.params.id);
            if (!device)
                throw new ApiError(404, "device_not_found", `device ${request.params.id} is not enrolled`);
            return { ...deviceView(device), events: await deviceEvents(r.deps.db, device.id) };
        },
    );

    app.delete<{ Params: { id: string }; Querystring: { reason?: string } }>(
        "/devices/:id",
        {
            schema: {
                summary:
                    "Decommission a device: revoke, delete its OTA target, remove its peer, free its address",
                tags: ["devices"],
                params: idParams,
                querystring: {
                    type: "object",
                    additionalProperties: false,
                    properties: { reason: { type: "string", maxLength: 200 } },
                },
                response: { 200: schemas.device, ...errorResponses(401, 403, 404, 502, 503) },
            },
        },
        async (request) => {
            const principal = await requireUser(r.verify, request, operators);
            const view = await decommission(
                r.deps,
                request.params.id,
                actorOf(principal),
                request.query.reason ?? "decommissioned by an operator",
            );
            r.metrics.lifecycle.inc({ operation: "decommission", outcome: "decommissioned" });
            request.log.info({ deviceId: view.id, actor: actorOf(principal) }, "device decommissioned");
            return view;
        },
    );
}

/** The certificates the client presented, leaf first (DER); empty when it presented none. */
function presentedChain(socket: TLSSocket): Buffer[] {
    const chain: Buffer[] = [];
    let cert = socket.getPeerCertificate(true);
    while (cert?.raw && !chain.some((c) => c.equals(cert.raw))) {
        chain.push(cert.raw);
        cert = cert.issuerCertificate;
    }
    return chain;
}
