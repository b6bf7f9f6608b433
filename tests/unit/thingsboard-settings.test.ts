/** tb-node's environment, thingsboard.conf, logback.xml and the install Job's commands, exactly. */
import { describe, expect, it } from "vitest";
import {
    installCommand,
    installEnv,
    javaHeapMib,
    logbackXml,
    schemaCheckCommand,
    tbNodeEnv,
    thingsboardConf,
} from "../../components/thingsboard/settings";

const db = { ref: (key: string) => ({ secret: "postgres-thingsboard", key }) };
const pg = (key: string) => ({ secret: "postgres-thingsboard", key });

describe("tb-node settings", () => {
    it("runs a monolith on the stack's PostgreSQL with MQTT over TLS from the mounted PEMs", () => {
        expect(tbNodeEnv(db)).toEqual({
            TB_SERVICE_TYPE: "monolith",
            TB_QUEUE_TYPE: "in-memory",
            HTTP_BIND_PORT: "8080",
            HTTP_FORWARD_HEADERS_STRATEGY: "framework",
            SPRING_DATASOURCE_URL: pg("jdbc-url"),
            SPRING_DATASOURCE_USERNAME: pg("username"),
            SPRING_DATASOURCE_PASSWORD: pg("password"),
            SPRING_DRIVER_CLASS_NAME: "org.postgresql.Driver",
            SPRING_JPA_DATABASE_PLATFORM: "org.hibernate.dialect.PostgreSQLDialect",
            DATABASE_TS_TYPE: "sql",
            DATABASE_TS_LATEST_TYPE: "sql",
            MQTT_SSL_ENABLED: "true",
            MQTT_SSL_BIND_PORT: "8883",
            MQTT_SSL_CREDENTIALS_TYPE: "PEM",
            MQTT_SSL_PEM_CERT: "/ssl-config/tls.crt",
            MQTT_SSL_PEM_KEY: "/ssl-config/tls.key",
            HTTP_ENABLED: "false",
            COAP_ENABLED: "false",
            LWM2M_ENABLED: "false",
            SNMP_ENABLED: "false",
        });
    });

    it("sizes a fixed heap at 60 % of the container limit, in 64 MiB steps", () => {
        expect(javaHeapMib(2560)).toBe(1536);
        expect(javaHeapMib(4096)).toBe(2432);
        expect(javaHeapMib(1024)).toBe(576);
        expect(() => javaHeapMib(512)).toThrow(
            "ThingsBoard needs a memory limit of at least 1024 MiB, not 512",
        );
    });

    it("writes thingsboard.conf as the start script sources it", () => {
        expect(thingsboardConf(2560)).toBe(
            [
                'export JAVA_OPTS="$JAVA_OPTS -Dplatform=deb -Dinstall.data_dir=/usr/share/thingsboard/data"',
                'export JAVA_OPTS="$JAVA_OPTS -Xms1536m -Xmx1536m"',
                'export JAVA_OPTS="$JAVA_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=500 -XX:+UseStringDeduplication"',
                'export JAVA_OPTS="$JAVA_OPTS -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=10"',
                'export JAVA_OPTS="$JAVA_OPTS -XX:+PerfDisableSharedMem -XX:+ExitOnOutOfMemoryError"',
                "export LOG_FILENAME=thingsboard.out",
                "export LOADER_PATH=/usr/share/thingsboard/conf,/usr/share/thingsboard/extensions",
                "",
            ].join("\n"),
        );
    });

    it("logs to the console only", () => {
        const xml = logbackXml();
        expect(xml.match(/<appender /g)).toEqual(["<appender "]);
        expect(xml).toContain('<appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">');
        expect(xml).toContain('<root level="INFO">\n        <appender-ref ref="STDOUT"/>\n    </root>');
        expect(xml).not.toMatch(/FileAppender|\/var\/log/);
    });

    it("installs only when the schema check left no marker", () => {
        expect(installEnv).toEqual({ INSTALL_TB: "true", LOAD_DEMO: "false" });
        expect(installCommand("/state/installed")).toEqual([
            "/bin/bash",
            "-c",
            'if [ -f /state/installed ]; then echo "ThingsBoard\'s schema exists: nothing to install"; exit 0; fi; exec start-tb-node.sh',
        ]);
        expect(schemaCheckCommand("/state/installed")).toEqual([
            "/bin/sh",
            "-c",
            "set -e; present=$(psql -tA -c \"SELECT to_regclass('public.tb_schema_settings') IS NOT NULL\"); " +
                'if [ "$present" = t ]; then touch /state/installed; fi',
        ]);
    });
});
