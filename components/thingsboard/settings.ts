/**
 * What tb-node is given, as pure functions: its environment (monolith on the stack's PostgreSQL,
 * in-memory queue, MQTT over TLS with the tenant's server certificate), `thingsboard.conf` (the
 * JVM options the image's start script sources) and `logback.xml`. The ThingsBoard component
 * turns these into a ConfigMap and container env; tests call them directly.
 */
import { EnvValue } from "../k8s/pod";
import { PostgresConnection } from "../postgres/postgres";

/** `app.kubernetes.io/name` of tb-node; the bridge's token and the database consumer name it. */
export const thingsboardApp = "thingsboard";
/** Web UI and REST API, behind the ingress. */
export const httpPort = 8080;
/** MQTT over TLS for devices, published at layer 4. */
export const mqttsPort = 8883;
/** uid and gid of the image's `thingsboard` user. */
export const thingsboardUid = 799;

/** Where the container reads and writes. */
export const thingsboardPaths = {
    /** `start-tb-node.sh` sources `thingsboard.conf` here and the server reads `logback.xml`. */
    config: "/config",
    /** The server certificate's Secret (`tls.crt` with the chain, `tls.key`). */
    mqttTls: "/ssl-config",
    logs: "/var/log/thingsboard",
    tmp: "/tmp",
} as const;

/** Container memory: ThingsBoard's docs ask for 2–4 GiB for a small production server. */
export const memory = { request: "2Gi", limitMib: 2560 } as const;

/**
 * Heap in MiB for a container limited to `limitMib`: 60 %, leaving the rest to metaspace, thread
 * stacks, Netty's direct buffers and the code cache, which a monolith with all its transports
 * needs; fixed (Xms = Xmx) so the heap never resizes under load.
 */
export function javaHeapMib(limitMib: number): number {
    if (!Number.isInteger(limitMib) || limitMib < 1024) {
        throw new Error(`ThingsBoard needs a memory limit of at least 1024 MiB, not ${limitMib}`);
    }
    return Math.floor((limitMib * 0.6) / 64) * 64;
}

/**
 * `thingsboard.conf`: the JVM options of the official Kubernetes manifests (G1, string
 * deduplication, exit on OutOfMemoryError so Kubernetes restarts the pod) with the heap sized to
 * the container, and no GC log file (logs go to the console).
 */
export function thingsboardConf(limitMib: number): string {
    const heap = javaHeapMib(limitMib);
    const options = [
        // The install Job loads its system data from here.
        "-Dplatform=deb -Dinstall.data_dir=/usr/share/thingsboard/data",
        `-Xms${heap}m -Xmx${heap}m`,
        "-XX:+UseG1GC -XX:MaxGCPauseMillis=500 -XX:+UseStringDeduplication",
        "-XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=10",
        // No hsperfdata file in /tmp; an OutOfMemoryError ends the JVM instead of limping on.
        "-XX:+PerfDisableSharedMem -XX:+ExitOnOutOfMemoryError",
    ];
    return [
        ...options.map((o) => `export JAVA_OPTS="$JAVA_OPTS ${o}"`),
        "export LOG_FILENAME=thingsboard.out",
        "export LOADER_PATH=/usr/share/thingsboard/conf,/usr/share/thingsboard/extensions",
        "",
    ].join("\n");
}

/** `logback.xml`: INFO to the console only, as every platform service logs. */
export function logbackXml(): string {
    return [
        "<!DOCTYPE configuration>",
        "<configuration>",
        '    <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">',
        "        <encoder>",
        "            <pattern>%d{ISO8601} [%thread] %-5level %logger{36} - %msg%n</pattern>",
        "        </encoder>",
        "    </appender>",
        '    <logger name="org.thingsboard.server" level="INFO"/>',
        '    <logger name="com.google.common.util.concurrent.AggregateFuture" level="OFF"/>',
        '    <root level="INFO">',
        '        <appender-ref ref="STDOUT"/>',
        "    </root>",
        "</configuration>",
        "",
    ].join("\n");
}

/**
 * tb-node's environment: a monolith on the stack's PostgreSQL (entities and time series, so no
 * Cassandra), the in-memory queue (one node: no Kafka), the web UI and API on 8080 behind the
 * ingress (which sets X-Forwarded-*, so OAuth2 redirects name the public origin), and MQTT over
 * TLS on 8883 with the PEM certificate and key mounted from a Secret. The transports devices do
 * not use (HTTP device API, CoAP, LwM2M, SNMP) are off.
 *
 * ThingsBoard asks MQTT clients for a certificate but cannot be told to require one at the TLS
 * layer (its SSL handler sets want-, not need-client-auth); a client without one has no X.509
 * credential to log in with, and the platform creates no devices with other credentials.
 */
export function tbNodeEnv(db: Pick<PostgresConnection, "ref">): Record<string, EnvValue> {
    return {
        TB_SERVICE_TYPE: "monolith",
        TB_QUEUE_TYPE: "in-memory",
        HTTP_BIND_PORT: String(httpPort),
        HTTP_FORWARD_HEADERS_STRATEGY: "framework",
        SPRING_DATASOURCE_URL: db.ref("jdbc-url"),
        SPRING_DATASOURCE_USERNAME: db.ref("username"),
        SPRING_DATASOURCE_PASSWORD: db.ref("password"),
        SPRING_DRIVER_CLASS_NAME: "org.postgresql.Driver",
        SPRING_JPA_DATABASE_PLATFORM: "org.hibernate.dialect.PostgreSQLDialect",
        DATABASE_TS_TYPE: "sql",
        DATABASE_TS_LATEST_TYPE: "sql",
        MQTT_SSL_ENABLED: "true",
        MQTT_SSL_BIND_PORT: String(mqttsPort),
        MQTT_SSL_CREDENTIALS_TYPE: "PEM",
        MQTT_SSL_PEM_CERT: `${thingsboardPaths.mqttTls}/tls.crt`,
        // The key is not encrypted, so ThingsBoard ignores its key password setting.
        MQTT_SSL_PEM_KEY: `${thingsboardPaths.mqttTls}/tls.key`,
        HTTP_ENABLED: "false",
        COAP_ENABLED: "false",
        LWM2M_ENABLED: "false",
        SNMP_ENABLED: "false",
    };
}

/** The install Job's additions: create the schema and system data, no demo data. */
export const installEnv: Readonly<Record<string, string>> = { INSTALL_TB: "true", LOAD_DEMO: "false" };

/**
 * The install Job's command: a no-op when the init container found ThingsBoard's schema
 * (`installedMarker`), so a re-created Job never re-installs over an existing database;
 * otherwise the image's start script, which with INSTALL_TB runs the installer and exits.
 */
export function installCommand(installedMarker: string): string[] {
    return [
        "/bin/bash",
        "-c",
        `if [ -f ${installedMarker} ]; then echo "ThingsBoard's schema exists: nothing to install"; exit 0; fi; exec start-tb-node.sh`,
    ];
}

/**
 * The init container's check (psql, from the PostgreSQL image, with the connection in PG*
 * variables): writes `installedMarker` when ThingsBoard's schema settings table exists. A
 * database that cannot be reached fails the pod, so the Job retries until it can.
 */
export function schemaCheckCommand(installedMarker: string): string[] {
    return [
        "/bin/sh",
        "-c",
        "set -e; " +
            `present=$(psql -tA -c "SELECT to_regclass('public.tb_schema_settings') IS NOT NULL"); ` +
            `if [ "$present" = t ]; then touch ${installedMarker}; fi`,
    ];
}
