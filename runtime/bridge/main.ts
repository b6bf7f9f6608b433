/**
 * The IoT Bridge API process: reads its configuration from the environment (exits 2 naming
 * every bad variable), migrates the database, serves the API and the management port, and
 * shuts down gracefully on SIGTERM/SIGINT (readiness off, in-flight requests finish, then the
 * database closes).
 */
import { PGlite } from "@electric-sql/pglite";
import { readFileSync } from "node:fs";
import { FastifyInstance } from "fastify";
import { Pool } from "pg";
import pino from "pino";
import { accessTokenVerifier, realmKeySet } from "../shared/auth/access-token";
import { configOrExit } from "../shared/env";
import { HawkbitClient, tenantConfig } from "../shared/hawkbit/client";
import { StepCaClient } from "../shared/step-ca";
import { AddressPool } from "./addresses";
import { BridgeConfig, DatabaseConfig, readBridgeConfig } from "./config";
import { Database, pgDatabase, pgliteDatabase } from "./db/database";
import { migrate } from "./db/migrations";
import { DeviceCertificates } from "./device-certificates";
import { managementServer } from "./management";
import { BridgeMetrics } from "./metrics";
import { PeerFeed } from "./peer-feed";
import { reloadTlsOnChange } from "./tls-reload";
import { Server as HttpsServer } from "node:https";
import { retryPendingUndo } from "./pending-undo";
import { retryUntilDone } from "../shared/retry";
import { LifecycleDeps, Warnings } from "./enrollment";
import { providerBridgeApi } from "./provider-bridge";
import { reconcileFederationClients } from "./federation";
import { KeycloakAdmin } from "../shared/keycloak-admin";
import { tenantBridgeApi } from "./tenant-bridge";
import { parseIpv4Cidr, Ipv4Cidr } from "../shared/ipv4";

/** Opens the configured database: PostgreSQL from the PG* variables, or embedded PGlite. */
export function openDatabase(config: DatabaseConfig, log: Warnings): Database {
    if (config.kind === "pglite") return pgliteDatabase(new PGlite(config.dataDir));
    // `pg` reads PGSSLMODE but not PGSSLROOTCERT: with a CA file, verify the server against it.
    const caFile = process.env.PGSSLROOTCERT;
    const ssl = caFile ? { ca: readFileSync(caFile, "utf8"), rejectUnauthorized: true } : undefined;
    const pool = new Pool({ max: config.poolSize, connectionTimeoutMillis: 30_000, ...(ssl ? { ssl } : {}) });
    // An idle connection that breaks is dropped by the pool; without a listener it would crash us.
    pool.on("error", (error) => log.warn({ error: error.message }, "a database connection broke"));
    return pgDatabase(pool);
}

/** A running bridge: both servers and what they hold. */
export interface RunningBridge {
    readonly api: FastifyInstance;
    readonly management: FastifyInstance;
    /** Stops taking requests, lets in-flight ones finish, closes the database. */
    close(): Promise<void>;
}

/** Builds and starts a bridge from a validated configuration. */
export async function startBridge(config: BridgeConfig, logLevel = "info"): Promise<RunningBridge> {
    const shutdown = new AbortController();
    const log = pino({ level: logLevel === "silent" ? "silent" : logLevel });
    /** Runs a start-up task in the background, retried with backoff until it succeeds or shutdown. */
    const untilDone = (task: () => Promise<unknown>, failed: string, done: string) =>
        void retryUntilDone(task, {
            signal: shutdown.signal,
            initialDelayMs: 1000,
            maxDelayMs: 60_000,
            onFailure: (error, retryInMs) => log.warn({ error: String(error), retryInMs }, failed),
        }).then((ok) => ok && log.info(done));
    const db = openDatabase(config.database, log);
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ applied }, "database migrated");
    const metrics = new BridgeMetrics();
    const stepCa = new StepCaClient({ url: config.stepCa.url, rootPem: config.stepCa.rootPem });
    const realm = { issuer: config.oidc.issuer, jwksUrl: config.oidc.jwksUrl };
    const keys = realmKeySet(realm);
    const verify = accessTokenVerifier(
        {
            ...realm,
            audience: config.oidc.audience,
            ...(config.tenant ? { tenant: config.tenant.tenantId } : {}),
        },
        keys,
    );
    let api: FastifyInstance;
    let lifecycle: LifecycleDeps | undefined;
    if (config.tenant) {
        const tenant = config.tenant;
        const addresses = new AddressPool(parseIpv4Cidr(tenant.wireguard.cidr, 16, 30) as Ipv4Cidr);
        await addresses.prepare(db);
        const hawkbit = new HawkbitClient(tenant.hawkbit);
        // The tenant's OTA settings (30 s polling, target tokens on), applied idempotently. hawkBit
        // may still be migrating its database on a first deployment: retried until it takes them,
        // since without them every device's DDI poll with its target token is refused.
        untilDone(
            () => hawkbit.applyTenantConfig(tenantConfig()),
            "could not apply hawkBit's tenant configuration yet",
            "hawkBit tenant configuration applied",
        );
        lifecycle = {
            db,
            addresses,
            feed: new PeerFeed(db),
            signer: new DeviceCertificates({
                tenantId: tenant.tenantId,
                client: stepCa,
                caDnsName: config.stepCa.audienceHost,
                provisioner: config.stepCa.provisioner,
                rootPem: config.stepCa.rootPem,
                subCaPem: tenant.subCaPem,
            }),
            targets: hawkbit,
            csrPolicy: { allowRsa: tenant.allowRsa },
            log,
        };
        api = await tenantBridgeApi({
            deps: lifecycle,
            tenant,
            rootPem: config.stepCa.rootPem,
            verify,
            // ThingsBoard's logins: any audience (the mapper checks the client), this tenant only.
            verifyLogin: accessTokenVerifier({ ...realm, tenant: tenant.tenantId }, keys),
            metrics,
            listen: config.listen,
            logLevel,
            shutdown: shutdown.signal,
        });
    } else {
        api = await providerBridgeApi({ db, stepCa, config, verify, metrics, logLevel });
        const keycloak = config.provider?.keycloak;
        if (keycloak) {
            // Tenants' federation clients made by an older bridge get the current model's mappers.
            untilDone(
                () => reconcileFederationClients(db, new KeycloakAdmin(keycloak)),
                "could not check tenants' federation clients yet",
                "tenants' federation clients checked",
            );
        }
    }
    // Undo steps that failed (a peer was down) are retried in the background.
    const undoDeps = lifecycle;
    const retry = undoDeps
        ? setInterval(() => {
              retryPendingUndo(undoDeps).catch((error: unknown) =>
                  log.warn({ error: String(error) }, "retrying pending undo steps failed"),
              );
          }, 30_000)
        : undefined;
    retry?.unref();
    const state = { draining: false };
    const management = await managementServer(db, metrics, state);
    await api.listen({ host: config.listen.host, port: config.listen.port });
    const tls = config.listen.tls;
    const stopTlsReload = tls ? reloadTlsOnChange(api.server as HttpsServer, tls, log) : undefined;
    await management.listen({ host: config.listen.host, port: config.listen.managementPort });
    log.info(
        {
            role: config.role,
            port: config.listen.port,
            managementPort: config.listen.managementPort,
            tls: !!config.listen.tls,
        },
        "bridge listening",
    );
    return {
        api,
        management,
        async close() {
            // Readiness goes false first; the Service stops routing here within a few seconds,
            // while requests still arriving are served. Then long polls end and the API closes.
            state.draining = true;
            await new Promise((resolve) => setTimeout(resolve, config.listen.shutdownDelaySeconds * 1000));
            shutdown.abort();
            clearInterval(retry);
            stopTlsReload?.();
            await api.close();
            await management.close();
            stepCa.close();
            await db.close();
        },
    };
}

async function main(): Promise<void> {
    const config = configOrExit(readBridgeConfig);
    const bridge = await startBridge(config, process.env.LOG_LEVEL ?? "info");
    let stopping = false;
    const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        bridge.api.log.info({ signal }, "shutting down");
        // Kubernetes keeps routing for a moment after SIGTERM; readiness goes false first.
        bridge.close().then(
            () => process.exit(0),
            (error: unknown) => {
                bridge.api.log.error({ err: error }, "shutdown failed");
                process.exit(1);
            },
        );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(
            `bridge failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
    });
}
