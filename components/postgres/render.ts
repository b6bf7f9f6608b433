/**
 * Pure rendering of the PostgreSQL parts: connection settings, the server's pod, the provisioning
 * Job's pod. The Postgres component turns these into resources; tests call them directly.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { PostgresConfig } from "../config/common-config";
import { ConfigError } from "../config/validate";
import { imageRef, images } from "../images";
import { AppIdentity } from "../k8s/context";
import { Allow } from "../k8s/network-policy";
import { ContainerSpec, PodSpecArgs, SecretKeyRef } from "../k8s/pod";
import { passwordEnvName, PostgresConsumer } from "./provision";

export const postgresApp = "postgres";
export const provisionerApp = "postgres-provision";
export const postgresPort = 5432;
/** uid of the `postgres` user in the Alpine-based image. */
export const postgresUid = 70;
/** Where a consumer mounts key `ca.crt` of its connection Secret when the server uses verify-*. */
export const postgresCaPath = "/etc/cdm/postgres/ca.crt";

export const serverIdentity: AppIdentity = {
    app: postgresApp,
    component: "database",
    version: images.postgres.tag,
};
export const provisionerIdentity: AppIdentity = {
    app: provisionerApp,
    component: "database",
    version: images.postgres.tag,
};

/**
 * Refuses an external server configuration whose passwords do not match the consumers exactly
 * (a missing one, or a misspelt one). The stacks call this before creating anything, so a bad
 * configuration leaves no partial graph.
 */
export function checkExternalPasswords(config: PostgresConfig, consumers: readonly PostgresConsumer[]): void {
    if (config.mode !== "external") return;
    const names = consumers.map((c) => c.name);
    const missing = names.filter((n) => !config.consumers.includes(n));
    const unknown = config.consumers.filter((n) => !names.includes(n));
    const problems = [
        ...(missing.length
            ? [`cdm:postgresExternalPasswords: no password for consumer(s) ${missing.join(", ")}`]
            : []),
        ...(unknown.length
            ? [
                  `cdm:postgresExternalPasswords: no consumer named ${unknown.join(", ")} (consumers: ${names.join(", ")})`,
              ]
            : []),
    ];
    if (problems.length) throw new ConfigError(problems);
}

/** The connection settings of a consumer, as its Secret stores them. */
export function connectionSettings(
    host: pulumi.Input<string>,
    port: number,
    consumer: string,
    password: pulumi.Input<string>,
    tls: { sslMode: string; caCertificate?: string },
): Record<string, pulumi.Input<string>> {
    const rootCert = tls.caCertificate ? `&sslrootcert=${postgresCaPath}` : "";
    return {
        host,
        port: String(port),
        database: consumer,
        username: consumer,
        password,
        sslmode: tls.sslMode,
        "jdbc-url": pulumi.interpolate`jdbc:postgresql://${host}:${port}/${consumer}?sslmode=${tls.sslMode}${rootCert}`,
        ...(tls.caCertificate ? { "ca.crt": tls.caCertificate } : {}),
    };
}

/** The egress rule a consumer's pods need: the in-cluster server's pods, or the external range. */
export function clientEgress(config: PostgresConfig): Allow {
    return config.mode === "external"
        ? { peers: [{ cidr: config.cidr }], ports: [{ port: config.port }] }
        : { peers: [{ app: postgresApp }], ports: [{ port: postgresPort }] };
}

const ready = ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"];

/** The server's pod: the superuser password read from a mounted Secret file, never from env. */
export function serverPod(superuserSecret: pulumi.Input<string>, mirror?: string): PodSpecArgs {
    const container: ContainerSpec = {
        name: "postgres",
        image: imageRef(images.postgres, mirror),
        ports: [{ name: "postgres", port: postgresPort }],
        env: {
            POSTGRES_PASSWORD_FILE: "/run/secrets/postgres/password",
            PGDATA: "/var/lib/postgresql/data/pgdata",
            POSTGRES_INITDB_ARGS: "--auth-host=scram-sha-256 --data-checksums",
        },
        resources: { cpu: "250m", memory: "512Mi", cpuLimit: "2", memoryLimit: "2Gi" },
        startup: { exec: ready, periodSeconds: 5, failureThreshold: 60 },
        readiness: { exec: ready, periodSeconds: 10 },
        liveness: { exec: ready, periodSeconds: 20, failureThreshold: 6 },
        mounts: [
            { volume: "data", path: "/var/lib/postgresql/data" },
            { volume: "superuser", path: "/run/secrets/postgres", readOnly: true },
        ],
        scratch: ["/var/run/postgresql", "/tmp"],
        sharedMemory: "256Mi",
    };
    return {
        runAsUser: postgresUid,
        terminationGracePeriodSeconds: 60,
        volumes: [{ name: "superuser", secret: superuserSecret }],
        containers: [container],
    };
}

/** The provisioning Job's pod: psql runs the script with each consumer's password in its env. */
export function provisionerPod(
    scriptConfigMap: pulumi.Input<string>,
    superuser: SecretKeyRef,
    passwords: readonly SecretKeyRef[],
    mirror?: string,
): PodSpecArgs {
    return {
        runAsUser: postgresUid,
        restartPolicy: "OnFailure",
        volumes: [{ name: "script", configMap: scriptConfigMap }],
        containers: [
            {
                name: "provision",
                image: imageRef(images.postgres, mirror),
                command: [
                    "sh",
                    "-c",
                    "until pg_isready -q -t 5; do sleep 2; done; " +
                        "exec psql --no-psqlrc -v ON_ERROR_STOP=1 -d postgres -f /provision/provision.sql",
                ],
                env: {
                    PGHOST: postgresApp,
                    PGPORT: String(postgresPort),
                    PGUSER: "postgres",
                    PGPASSWORD: superuser,
                    ...Object.fromEntries(passwords.map((ref, i) => [passwordEnvName(i), ref])),
                },
                resources: { cpu: "50m", memory: "64Mi", cpuLimit: "500m", memoryLimit: "256Mi" },
                mounts: [{ volume: "script", path: "/provision", readOnly: true }],
                scratch: ["/tmp"],
            },
        ],
    };
}

/** Checksum of the script, annotated on the Job so a changed script replaces (re-runs) the Job. */
export function scriptChecksum(script: string): string {
    return createHash("sha256").update(script).digest("hex");
}
