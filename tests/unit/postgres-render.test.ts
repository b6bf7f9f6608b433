import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { resolve } from "../support/outputs";
import {
    clientEgress,
    connectionSettings,
    postgresCaPath,
    provisionerPod,
    scriptChecksum,
    serverPod,
} from "../../components/postgres/render";

describe("PostgreSQL rendering", () => {
    it("renders a consumer's connection settings, with the CA when the server is verified", async () => {
        const settings = connectionSettings("db.example.com", 5432, "hawkbit", "pw", {
            sslMode: "verify-full",
            caCertificate: "PEM",
        });
        expect(Object.keys(settings)).toEqual([
            "host",
            "port",
            "database",
            "username",
            "password",
            "sslmode",
            "jdbc-url",
            "ca.crt",
        ]);
        expect(await resolve(settings["jdbc-url"])).toBe(
            `jdbc:postgresql://db.example.com:5432/hawkbit?sslmode=verify-full&sslrootcert=${postgresCaPath}`,
        );
        const plain = connectionSettings("postgres.ns.svc.cluster.local", 5432, "bridge", "pw", {
            sslMode: "disable",
        });
        expect(await resolve(plain["jdbc-url"])).toBe(
            "jdbc:postgresql://postgres.ns.svc.cluster.local:5432/bridge?sslmode=disable",
        );
        expect("ca.crt" in plain).toBe(false);
    });

    it("lets clients reach only the server", () => {
        expect(clientEgress({ mode: "in-cluster", storageSize: "10Gi" })).toEqual({
            peers: [{ app: "postgres" }],
            ports: [{ port: 5432 }],
        });
        const external = {
            mode: "external" as const,
            host: "db.example.com",
            port: 6432,
            sslMode: "require" as const,
            cidr: "10.20.0.0/24",
            passwords: pulumi.secret<Record<string, string>>({}),
            consumers: [],
        };
        expect(clientEgress(external)).toEqual({
            peers: [{ cidr: "10.20.0.0/24" }],
            ports: [{ port: 6432 }],
        });
    });

    it("runs the server as the image's postgres user with the password from a file", () => {
        const pod = serverPod("postgres-superuser", "mirror.example.com");
        expect(pod.runAsUser).toBe(70);
        expect(pod.containers[0].image).toBe("mirror.example.com/library/postgres:17.6-alpine3.22");
        expect(pod.containers[0].env?.POSTGRES_PASSWORD_FILE).toBe("/run/secrets/postgres/password");
        expect(pod.volumes).toEqual([{ name: "superuser", secret: "postgres-superuser" }]);
    });

    it("hands the provisioning Job each password as a Secret reference, in consumer order", () => {
        const pod = provisionerPod("script", { secret: "postgres-superuser", key: "password" }, [
            { secret: "postgres-a", key: "password" },
            { secret: "postgres-b", key: "password" },
        ]);
        expect(pod.restartPolicy).toBe("OnFailure");
        expect(pod.containers[0].env).toMatchObject({
            PGPASSWORD: { secret: "postgres-superuser", key: "password" },
            CDM_DB_PASSWORD_0: { secret: "postgres-a", key: "password" },
            CDM_DB_PASSWORD_1: { secret: "postgres-b", key: "password" },
        });
        expect(scriptChecksum("x")).toBe("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    });
});
