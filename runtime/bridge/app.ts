import swagger from "@fastify/swagger";
import Fastify, { FastifyError, FastifyInstance, FastifyServerOptions } from "fastify";
import { ListenConfig } from "./config";
import { ErrorBody, toApiError } from "./errors";
import { BridgeMetrics } from "./metrics";

/** Request fields the logs must never carry. */
export const redactedPaths = [
    "req.headers.authorization",
    "req.headers.cookie",
    // ThingsBoard's login mapper call carries the login's access token here.
    'req.headers["provider-access-token"]',
    "req.body",
    "res.headers['set-cookie']",
];

/** Logger settings: JSON lines with credentials redacted; silent where tests ask for it. */
export function loggerOptions(level: string): FastifyServerOptions["logger"] {
    return level === "silent" ? false : { level, redact: { paths: redactedPaths, censor: "[redacted]" } };
}

/**
 * The API server: JSON schemas on every route (requests are validated, answers serialized by
 * them), an OpenAPI document at `/openapi.json`, a body-size limit, one error format
 * (`{ error, message }`), request metrics. Routes are added by `routes`.
 */
export async function buildApiServer(
    listen: ListenConfig,
    metrics: BridgeMetrics,
    logLevel: string,
    title: string,
    routes: (app: FastifyInstance) => void,
): Promise<FastifyInstance> {
    const app = Fastify({
        logger: loggerOptions(logLevel),
        bodyLimit: listen.bodyLimit,
        // Devices renew over mutual TLS: ask for a certificate, and let the route decide.
        ...(listen.tls
            ? {
                  https: {
                      cert: listen.tls.certPem,
                      key: listen.tls.keyPem,
                      requestCert: true,
                      rejectUnauthorized: false,
                  },
              }
            : {}),
        ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
        return503OnClosing: true,
    }) as unknown as FastifyInstance;
    await app.register(swagger, {
        openapi: {
            openapi: "3.1.0",
            info: { title, version: "1" },
            components: {
                securitySchemes: {
                    bearer: { type: "http", scheme: "bearer" },
                    basic: { type: "http", scheme: "basic" },
                },
            },
            security: [{ bearer: [] }],
        },
    });
    metrics.observe(app);
    app.setErrorHandler((error: FastifyError, request, reply) => {
        const { status, body } = errorAnswer(error);
        if (status >= 500) request.log.error({ err: error }, "request failed");
        else request.log.info({ status, error: body.error, reason: body.message }, "request refused");
        void reply.code(status).send(body);
    });
    app.setNotFoundHandler((request, reply) => {
        void reply
            .code(404)
            .send({ error: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` });
    });
    routes(app);
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
    await app.ready();
    return app;
}

/** The status and body for an error: the framework's own 4xx (validation, size, type) or ours. */
export function errorAnswer(error: FastifyError): { status: number; body: ErrorBody } {
    if (error.validation) {
        return { status: 400, body: { error: "invalid_request", message: error.message } };
    }
    if (
        error.code?.startsWith("FST_") &&
        error.statusCode &&
        error.statusCode >= 400 &&
        error.statusCode < 500
    ) {
        return {
            status: error.statusCode,
            body: { error: error.code.toLowerCase(), message: error.message },
        };
    }
    const api = toApiError(error);
    return { status: api.status, body: { error: api.code, message: api.message } };
}
