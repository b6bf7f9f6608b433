/** ThingsBoard's custom OAuth2 mapper at the tenant bridge: who a login becomes, pure. */
import { FastifyRequest } from "fastify";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { redactedPaths } from "../../../runtime/bridge/app";
import { ServiceCredentials } from "../../../runtime/bridge/auth";
import { ApiError } from "../../../runtime/bridge/errors";
import { principalSubject, thingsboardUser } from "../../../runtime/bridge/thingsboard-login";
import { Caller } from "../../../runtime/shared/auth/access-token";
import { loginClaims as claims } from "../../support/thingsboard-login";

const logins = (tenantTitle: string) => ({
    tenantTitle,
    localAccounts: ["sysadmin@thingsboard.org", "admin@things.acme.test"],
});

function caller(roles: string[], extra: Record<string, unknown> = {}): Caller {
    return {
        subject: "user-1",
        roles,
        expiresAt: new Date(Date.now() + 60_000),
        claims: { sub: "user-1", ...claims, ...extra },
    };
}

function refusal(fn: () => unknown): { status: number; code: string; message: string } {
    try {
        fn();
    } catch (error) {
        expect(error).toBeInstanceOf(ApiError);
        const { status, code, message } = error as ApiError;
        return { status, code, message };
    }
    throw new Error("expected a refusal");
}

const user = (roles: string[], extra: Record<string, unknown> = {}, sub = "user-1") =>
    thingsboardUser(caller(roles, extra), sub, logins("A"));

describe("the ThingsBoard user of a login", () => {
    it("makes tenant administrators of tenant-admin, operators' customer users of operator", () => {
        expect(
            thingsboardUser(caller(["tenant-admin", "operator"]), "user-1", logins("ACME Corporation")),
        ).toEqual({
            email: "olga@acme.example",
            firstName: "Olga",
            lastName: "Operator",
            tenantName: "ACME Corporation",
            alwaysFullScreen: false,
        });
        expect(thingsboardUser(caller(["operator", "device-terminal"]), "user-1", logins("ACME"))).toEqual({
            email: "olga@acme.example",
            firstName: "Olga",
            lastName: "Operator",
            tenantName: "ACME",
            customerName: "Operators",
            alwaysFullScreen: false,
        });
        const unnamed = user(["operator"], { given_name: "", family_name: undefined });
        expect([unnamed.firstName, unnamed.lastName]).toEqual([undefined, undefined]);
    });

    it("refuses viewers, users without a role, other clients' tokens, another subject and no e-mail", () => {
        const why =
            "ThingsBoard is for the tenant-admin and operator roles; viewers read the fleet in Grafana";
        expect(refusal(() => user(["viewer"]))).toEqual({
            status: 403,
            code: "no_thingsboard_role",
            message: why,
        });
        expect(refusal(() => user([])).code).toBe("no_thingsboard_role");
        expect(refusal(() => user(["tenant-admin"], { azp: "grafana" }))).toEqual({
            status: 403,
            code: "not_a_thingsboard_login",
            message: "the access token was issued to grafana, not thingsboard",
        });
        expect(refusal(() => user(["tenant-admin"], {}, "user-2"))).toEqual({
            status: 403,
            code: "principal_mismatch",
            message: "the principal and the access token name different users",
        });
        expect(refusal(() => user(["tenant-admin"], { email: undefined }))).toEqual({
            status: 422,
            code: "email_missing",
            message: "the user has no e-mail address, which ThingsBoard keys users by",
        });
    });

    it("maps nobody to an unverified e-mail or to one of ThingsBoard's own accounts", () => {
        for (const verified of [false, undefined, "true"]) {
            expect(refusal(() => user(["operator"], { email_verified: verified }))).toEqual({
                status: 403,
                code: "email_unverified",
                message: "the user's e-mail address is not verified",
            });
        }
        for (const email of ["sysadmin@thingsboard.org", "Admin@Things.ACME.test"]) {
            expect(refusal(() => user(["tenant-admin"], { email }))).toEqual({
                status: 403,
                code: "local_account",
                message: "the e-mail address belongs to one of ThingsBoard's own accounts",
            });
        }
        expect(user(["operator"], { email: "admin@acme.test" }).email).toBe("admin@acme.test");
    });

    it("reads the subject from the principal's attributes, as text or parsed", () => {
        expect(principalSubject('{"attributes":{"sub":"user-1"},"name":"x"}')).toBe("user-1");
        expect(principalSubject({ attributes: { sub: "user-2" } })).toBe("user-2");
        expect(refusal(() => principalSubject("{not json"))).toEqual({
            status: 400,
            code: "principal_malformed",
            message: "the principal is not JSON",
        });
        for (const bad of [
            "null",
            '{"sub":"user-1"}',
            '{"attributes":{"sub":7}}',
            '{"attributes":{"sub":""}}',
        ]) {
            expect(refusal(() => principalSubject(bad)).message).toBe("the principal has no attributes.sub");
        }
    });

    it("decodes Basic credentials as ISO-8859-1, as Spring encodes them", () => {
        const password = "pässwörd-".repeat(4);
        const services = new ServiceCredentials({ thingsboard: password });
        const request = (encoding: BufferEncoding) =>
            ({
                headers: {
                    authorization: `Basic ${Buffer.from(`thingsboard:${password}`, encoding).toString("base64")}`,
                },
            }) as unknown as FastifyRequest;
        expect(services.requireBasic(request("latin1"), "thingsboard")).toEqual({
            kind: "service",
            name: "thingsboard",
        });
        expect(() => services.requireBasic(request("utf8"), "thingsboard")).toThrow(
            "this route needs the thingsboard service credential",
        );
    });

    it("never logs the login's access token", () => {
        const lines: string[] = [];
        const log = pino(
            { redact: { paths: redactedPaths, censor: "[redacted]" } },
            { write: (line: string) => void lines.push(line) },
        );
        log.info({ req: { headers: { "provider-access-token": "eyJ.secret.token", host: "bridge" } } }, "x");
        expect(JSON.parse(lines[0]).req.headers).toEqual({
            "provider-access-token": "[redacted]",
            host: "bridge",
        });
    });
});
