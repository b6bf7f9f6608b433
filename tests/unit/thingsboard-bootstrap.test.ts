/**
 * The bootstrap's decisions: what it sends to a fresh ThingsBoard and to one it already set up
 * (against a recording fake of the REST API's answers), and how it reads its environment.
 */
import { describe, expect, it } from "vitest";
import { deviceProfile } from "../../components/thingsboard/device-profile";
import { oauth2Client } from "../../components/thingsboard/oauth2";
import { ruleChainMetadata } from "../../components/thingsboard/rule-chain";
import { Answer, Method, TbApi } from "../../runtime/thingsboard-bootstrap/api";
import { activationToken, bootstrap, mergeEntity } from "../../runtime/thingsboard-bootstrap/bootstrap";
import { BootstrapConfig, readBootstrapConfig } from "../../runtime/thingsboard-bootstrap/config";
import { EnvError } from "../../runtime/shared/env";

const subCa = "-----BEGIN CERTIFICATE-----\nMIIBsubca\n-----END CERTIFICATE-----\n";
const env = {
    TB_URL: "http://thingsboard.cdm-tenant-acme.svc.cluster.local:8080",
    TB_SYSADMIN_PASSWORD: "generated-sysadmin",
    TB_TENANT_TITLE: "ACME Corporation",
    TB_TENANT_ADMIN_EMAIL: "admin@things.acme.cdm.example.com",
    TB_TENANT_ADMIN_PASSWORD: "generated-admin",
    TENANT_ID: "acme",
    SUB_CA_PEM: subCa,
    FORWARDED_METRICS: "cpu_usage, mem_free_mb",
    AMQP_HOST: "127.0.0.1",
    AMQP_PORT: "5672",
    AMQP_VHOST: "cdm-metrics",
    AMQP_EXCHANGE: "cdm.telemetry",
    AMQP_USERNAME: "tenant-acme",
    AMQP_PASSWORD: "publisher-password",
    CONNECT_WEBHOOK_URL: "http://127.0.0.1:18443/webhooks/thingsboard/connect",
    THINGSBOARD_WEBHOOK_TOKEN: "webhook-token",
    OAUTH2_ISSUER: "https://auth.acme.cdm.example.com/auth/realms/acme",
    OAUTH2_INTERNAL_ISSUER: "http://keycloak.cdm-tenant-acme.svc.cluster.local:8080/auth/realms/acme",
    OAUTH2_CLIENT_ID: "thingsboard",
    OAUTH2_CLIENT_SECRET: "client-secret",
    OAUTH2_MAPPER_URL: "http://127.0.0.1:18443/webhooks/thingsboard/login",
    THINGS_ORIGIN: "https://things.acme.cdm.example.com",
};
const config = readBootstrapConfig(env);

interface Sent {
    readonly method: Method;
    readonly path: string;
    readonly body?: any;
    readonly token?: string;
}

/**
 * Answers as ThingsBoard's REST API does for the calls the bootstrap makes, keeping what was
 * saved, and records every request.
 */
class FakeThingsboard implements TbApi {
    sent: Sent[] = [];
    private passwords = new Map([["sysadmin@thingsboard.org", "sysadmin"]]);
    private entities = new Map<string, Record<string, any>[]>();
    private next = 0;

    private list(kind: string) {
        return this.entities.get(kind) ?? this.entities.set(kind, []).get(kind)!;
    }

    private save(kind: string, body: any) {
        const list = this.list(kind);
        const stored = body.id
            ? { ...body, version: body.version + 1 }
            : { ...body, id: { id: `${kind}-${++this.next}` }, version: 1 };
        list.splice(
            list.findIndex((e) => e.id.id === stored.id.id),
            body.id ? 1 : 0,
            stored,
        );
        return { status: 200, body: stored };
    }

    async call<T = any>(
        method: Method,
        path: string,
        options: { body?: unknown; token?: string } = {},
    ): Promise<Answer<T>> {
        return this.answer(method, path, options) as Promise<Answer<T>>;
    }

    private async answer(
        method: Method,
        path: string,
        options: { body?: unknown; token?: string },
    ): Promise<Answer> {
        const body = options.body as any;
        this.sent.push({
            method,
            path,
            ...(body !== undefined ? { body } : {}),
            ...(options.token ? { token: options.token } : {}),
        });
        const route = `${method} ${path.split("?")[0]}`;
        const page = (kind: string) => ({ status: 200, body: { data: this.list(kind) } });
        switch (true) {
            case route === "POST /api/auth/login":
                return this.passwords.get(body.username) === body.password
                    ? { status: 200, body: { token: `jwt-${body.username}` } }
                    : { status: 401, body: { message: "Authentication failed" } };
            case route === "POST /api/auth/changePassword":
                this.passwords.set("sysadmin@thingsboard.org", body.newPassword);
                return { status: 200, body: undefined };
            case route === "GET /api/tenants":
                return page("tenant");
            case route === "POST /api/tenant":
                return this.save("tenant", body);
            case /^GET \/api\/tenant\/[^/]+\/users$/.test(route):
                return page("user");
            case route === "POST /api/user":
                return this.save("user", body);
            case /^GET \/api\/user\/[^/]+\/activationLink$/.test(route):
                return {
                    status: 200,
                    body: "https://things.acme.cdm.example.com/api/noauth/activate?activateToken=tok1",
                };
            case route === "POST /api/noauth/activate":
                this.passwords.set(this.list("user")[0].email, body.password);
                return { status: 200, body: undefined };
            case route === "GET /api/ruleChains":
                return page("ruleChain");
            case route === "POST /api/ruleChain":
                return this.save("ruleChain", body);
            case route === "POST /api/ruleChain/metadata":
                return { status: 200, body };
            case route === "GET /api/deviceProfiles":
                return page("deviceProfile");
            case route.startsWith("GET /api/deviceProfile/"):
                return { status: 200, body: this.list("deviceProfile").find((e) => path.endsWith(e.id.id)) };
            case route === "POST /api/deviceProfile":
                return this.save("deviceProfile", body);
            case route === "GET /api/oauth2/client/infos":
                return page("oauth2Client");
            case route.startsWith("GET /api/oauth2/client/"):
                return { status: 200, body: this.list("oauth2Client").find((e) => path.endsWith(e.id.id)) };
            case route === "POST /api/oauth2/client":
                return this.save("oauth2Client", body);
            case route === "GET /api/domain/infos":
                return page("domain");
            case route === "POST /api/domain":
                return this.save("domain", body);
            case /^PUT \/api\/domain\/[^/]+\/oauth2Clients$/.test(route):
                return { status: 200, body: undefined };
        }
        throw new Error(`the fake has no answer for ${route}`);
    }
}

const steps: string[] = [];
const log = (step: string) => void steps.push(step);
const summary = (sent: readonly Sent[]) =>
    sent.map((s) => `${s.method} ${s.path}${s.token ? ` as ${s.token.replace("jwt-", "")}` : ""}`);

describe("ThingsBoard bootstrap", () => {
    it("sets up a fresh ThingsBoard: passwords, tenant, administrator, chain, profile, Keycloak login", async () => {
        const tb = new FakeThingsboard();
        await bootstrap(tb, config, log);
        const sys = "sysadmin@thingsboard.org";
        const admin = "admin@things.acme.cdm.example.com";
        const search = (text: string) => `pageSize=100&page=0&textSearch=${encodeURIComponent(text)}`;
        expect(summary(tb.sent)).toEqual([
            "POST /api/auth/login",
            "POST /api/auth/login",
            `POST /api/auth/changePassword as ${sys}`,
            "POST /api/auth/login",
            `GET /api/tenants?${search("ACME Corporation")} as ${sys}`,
            `POST /api/tenant as ${sys}`,
            `GET /api/tenant/tenant-1/users?${search(admin)} as ${sys}`,
            `POST /api/user?sendActivationMail=false as ${sys}`,
            `GET /api/user/user-2/activationLink as ${sys}`,
            "POST /api/noauth/activate?sendActivationMail=false",
            "POST /api/auth/login",
            `GET /api/ruleChains?type=CORE&${search("cdm-telemetry")} as ${admin}`,
            `POST /api/ruleChain as ${admin}`,
            `POST /api/ruleChain/metadata as ${admin}`,
            `GET /api/deviceProfiles?${search("cdm-devices")} as ${admin}`,
            `POST /api/deviceProfile as ${admin}`,
            `GET /api/oauth2/client/infos?${search("Keycloak")} as ${sys}`,
            `POST /api/oauth2/client as ${sys}`,
            `GET /api/domain/infos?${search("things.acme.cdm.example.com")} as ${sys}`,
            `POST /api/domain?oauth2ClientIds=oauth2Client-5 as ${sys}`,
        ]);
        const body = (i: number) => tb.sent[i].body;
        expect(body(0)).toEqual({ username: sys, password: "generated-sysadmin" });
        expect(body(1)).toEqual({ username: sys, password: "sysadmin" });
        expect(body(2)).toEqual({ currentPassword: "sysadmin", newPassword: "generated-sysadmin" });
        expect(body(5)).toEqual({ title: "ACME Corporation" });
        expect(body(7)).toEqual({
            email: admin,
            authority: "TENANT_ADMIN",
            tenantId: { entityType: "TENANT", id: "tenant-1" },
            firstName: "Tenant",
            lastName: "Administrator",
        });
        expect(body(9)).toEqual({ activateToken: "tok1", password: "generated-admin" });
        expect(body(12)).toEqual({ name: "cdm-telemetry", type: "CORE", debugMode: false });
        expect(body(13)).toEqual(ruleChainMetadata(config.ruleChain, "ruleChain-3"));
        expect(body(15)).toEqual(deviceProfile(subCa, "ruleChain-3"));
        expect(body(17)).toEqual(oauth2Client(config.oauth2!));
        expect(body(19)).toEqual({
            name: "things.acme.cdm.example.com",
            oauth2Enabled: true,
            propagateToEdge: false,
        });
    });

    it("updates what exists on a second run: no new entities, stored ids and versions kept", async () => {
        const tb = new FakeThingsboard();
        await bootstrap(tb, config, log);
        tb.sent = [];
        await bootstrap(tb, config, log);
        const writes = tb.sent.filter((s) => s.method !== "GET" && s.path !== "/api/auth/login");
        expect(summary(writes).map((w) => w.replace(/ as .*/, ""))).toEqual([
            "POST /api/ruleChain/metadata",
            "POST /api/deviceProfile",
            "POST /api/oauth2/client",
            "PUT /api/domain/domain-6/oauth2Clients",
        ]);
        expect(writes[0].body).toEqual(ruleChainMetadata(config.ruleChain, "ruleChain-3"));
        expect(writes[1].body).toEqual({
            ...deviceProfile(subCa, "ruleChain-3"),
            id: { id: "deviceProfile-4" },
            version: 1,
        });
        expect(writes[2].body).toEqual({
            ...oauth2Client(config.oauth2!),
            id: { id: "oauth2Client-5" },
            version: 1,
        });
        expect(writes[3].body).toEqual(["oauth2Client-5"]);
        // The sysadmin's generated password works now: one login, no password change.
        expect(tb.sent[0]).toEqual({
            method: "POST",
            path: "/api/auth/login",
            body: { username: "sysadmin@thingsboard.org", password: "generated-sysadmin" },
        });
    });

    it("skips Keycloak login when the stack has no client secret", async () => {
        const tb = new FakeThingsboard();
        const { OAUTH2_CLIENT_SECRET: _, ...withoutKeycloak } = env;
        await bootstrap(tb, readBootstrapConfig(withoutKeycloak), log);
        expect(tb.sent.some((s) => s.path.includes("oauth2") || s.path.includes("domain"))).toBe(false);
    });

    it("merges a stored entity with the desired fields, and reads activation links", () => {
        expect(mergeEntity(undefined, { name: "a" })).toEqual({ name: "a" });
        expect(mergeEntity({ id: { id: "x" }, version: 3, name: "old", extra: 1 }, { name: "a" })).toEqual({
            id: { id: "x" },
            version: 3,
            name: "a",
            extra: 1,
        });
        expect(activationToken('"https://h/api/noauth/activate?activateToken=abc"')).toBe("abc");
        expect(() => activationToken("https://h/api/noauth/activate")).toThrow(
            "ThingsBoard's activation link carries no activateToken",
        );
    });

    it("reads its environment, refusing bad values by name", () => {
        const expected: Partial<BootstrapConfig> = {
            url: env.TB_URL,
            tenantTitle: "ACME Corporation",
            subCaPem: subCa.trim(),
        };
        expect(config).toMatchObject(expected);
        expect(config.ruleChain.forwardedMetrics).toEqual(["cpu_usage", "mem_free_mb"]);
        expect(config.oauth2?.clientSecret).toBe("client-secret");
        // ThingsBoard authenticates to the login mapper with the same token as to the webhook.
        expect(config.oauth2?.mapper).toEqual({
            url: "http://127.0.0.1:18443/webhooks/thingsboard/login",
            token: "webhook-token",
        });
        try {
            readBootstrapConfig({
                ...env,
                FORWARDED_METRICS: "cpu_usage,ts",
                AMQP_PORT: "0",
                SUB_CA_PEM: "x",
            });
            expect.unreachable();
        } catch (error) {
            expect((error as EnvError).problems).toEqual([
                'FORWARDED_METRICS "ts" is a field the chain adds itself',
                "SUB_CA_PEM is not a PEM certificate",
                'AMQP_PORT must be an integer in 1..65535, not "0"',
            ]);
        }
    });
});
