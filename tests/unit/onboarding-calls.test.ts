/**
 * The tenant stack's onboarding calls (the dynamic providers behind SignedSubCa and
 * FederationClient) against a local HTTPS server standing in for the provider bridge. Unit level only: the bridge's own server is
 * tested against the real step-ca in its integration tests.
 */
import * as pulumi from "@pulumi/pulumi";
import { createServer, Server } from "node:https";
import { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { federationClientProvider } from "../../components/keycloak/federation-client";
import { amqpPublisherProvider } from "../../components/onboarding/amqp-publisher";
import { signedSubCaProvider } from "../../components/pki/signed-sub-ca";
import { intermediateProfile, rootProfile, subCaProfile } from "../../components/pki/profile";
import { subCaPermittedNames } from "../../runtime/shared/pki-names";
import { intermediateCa, leafCertificate, rootCa, TestCa } from "../support/pki";
import { x509 } from "../../runtime/shared/x509";

let root: TestCa;
let ica: TestCa;
let sub: TestCa;
let server: Server;
let url: string;
const requests: { method: string; path: string; auth?: string; body: string }[] = [];
let answer: { status: number; body: unknown } = { status: 201, body: {} };

beforeAll(async () => {
    root = await rootCa(rootProfile);
    ica = await intermediateCa(intermediateProfile, root);
    sub = await intermediateCa(
        subCaProfile("acme"),
        ica,
        subCaPermittedNames("acme", "cdm-tenant-acme", "cdm.example.com"),
    );
    // The server's own TLS certificate: a leaf for localhost signed by the test intermediate.
    const tls = await leafCertificate(ica, "CN=localhost", [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
    ]);
    server = createServer({ key: tls.key.privatePem, cert: `${tls.pem}${ica.pem}` }, (req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            requests.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
            res.writeHead(answer.status, { "content-type": "application/json" });
            res.end(JSON.stringify(answer.body));
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `https://localhost:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const inputs = () => ({
    bridgeUrl: url,
    tenantId: "acme",
    csrPem: "CSR",
    publicKeyPem: sub.key.publicPem,
    permittedNames: subCaPermittedNames("acme", "cdm-tenant-acme", "cdm.example.com"),
    issuerPem: ica.pem,
    rootPem: root.pem,
    token: "automation-token",
});

/** The provider trusts the system store; the test's root is added for the duration of a call. */
async function withTrust<T>(fn: () => Promise<T>): Promise<T> {
    const https = await import("node:https");
    const original = https.globalAgent.options.ca;
    https.globalAgent.options.ca = root.pem;
    try {
        return await fn();
    } finally {
        https.globalAgent.options.ca = original;
    }
}

describe("Sub-CA onboarding call", () => {
    it("posts the CSR with the automation credential and keeps the checked answer", async () => {
        answer = { status: 201, body: { certificate_pem: sub.pem, chain_pem: [ica.pem] } };
        const result = await withTrust(() => signedSubCaProvider.create(inputs()));
        expect(requests.at(-1)).toEqual({
            method: "POST",
            path: "/v1/tenants/acme/sub-ca",
            auth: "Bearer automation-token",
            body: JSON.stringify({ csr_pem: "CSR" }),
        });
        expect(result).toEqual({
            id: "acme-sub-ca",
            outs: { ...inputs(), certificatePem: sub.pem, chainPem: [ica.pem] },
        });
    });

    it("fails with the bridge's status and message, and refuses an answer for another key", async () => {
        answer = { status: 403, body: { message: "tenant acme is not onboarded" } };
        await expect(withTrust(() => signedSubCaProvider.create(inputs()))).rejects.toThrow(
            "the provider bridge refused to sign the Sub-CA of acme: 403 tenant acme is not onboarded",
        );
        answer = { status: 201, body: { certificate_pem: ica.pem, chain_pem: [root.pem] } };
        await expect(withTrust(() => signedSubCaProvider.create(inputs()))).rejects.toThrow(
            "the provider bridge's Sub-CA for acme is unusable: the certificate is not for this tenant's Sub-CA key",
        );
    });

    it("needs the automation credential", async () => {
        await expect(signedSubCaProvider.create({ ...inputs(), token: "" })).rejects.toThrow(
            "cdm:onboardingToken is not set: the provider bridge's onboarding API needs it",
        );
    });

    it("replaces on a new CSR or key, updates in place on a new token, and revokes on delete", async () => {
        const olds = { ...inputs(), certificatePem: sub.pem, chainPem: [ica.pem] };
        expect(await signedSubCaProvider.diff!("id", olds, { ...inputs(), csrPem: "CSR2" })).toEqual({
            changes: true,
            replaces: ["csrPem"],
            deleteBeforeReplace: false,
        });
        expect(await signedSubCaProvider.diff!("id", olds, { ...inputs(), token: "rotated" })).toEqual({
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        expect(await signedSubCaProvider.update!("id", olds, { ...inputs(), token: "rotated" })).toEqual({
            outs: { ...olds, token: "rotated" },
        });
        answer = { status: 204, body: {} };
        await withTrust(() => signedSubCaProvider.delete!("id", olds));
        expect(requests.at(-1)).toMatchObject({
            method: "DELETE",
            path: `/v1/tenants/acme/sub-ca?serial=${new x509.X509Certificate(sub.pem).serialNumber.toLowerCase()}`,
            auth: "Bearer automation-token",
        });
    });
});

describe("federation client onboarding call", () => {
    const fcInputs = () => ({
        bridgeUrl: url,
        tenantId: "acme",
        redirectUri: "https://auth.acme/endpoint",
        token: "automation-token",
    });

    it("asks the bridge for the tenant's client and keeps id and secret", async () => {
        answer = { status: 201, body: { client_id: "tenant-acme", client_secret: "s3cret" } };
        const result = await withTrust(() => federationClientProvider.create(fcInputs()));
        expect(requests.at(-1)).toEqual({
            method: "POST",
            path: "/v1/tenants/acme/federation-client",
            auth: "Bearer automation-token",
            body: JSON.stringify({ redirect_uri: "https://auth.acme/endpoint" }),
        });
        expect(result).toEqual({
            id: "acme-federation-client",
            outs: { ...fcInputs(), clientId: "tenant-acme", clientSecret: "s3cret" },
        });
    });

    it("fails on a refusal or an incomplete answer, and removes the client on delete", async () => {
        answer = { status: 401, body: { message: "bad credential" } };
        await expect(withTrust(() => federationClientProvider.create(fcInputs()))).rejects.toThrow(
            "the provider bridge did not create the federation client of acme: 401 bad credential",
        );
        answer = { status: 201, body: { client_id: "tenant-acme" } };
        await expect(withTrust(() => federationClientProvider.create(fcInputs()))).rejects.toThrow(
            "the provider bridge did not create the federation client of acme: 201 no message",
        );
        const olds = { ...fcInputs(), clientId: "tenant-acme", clientSecret: "s" };
        expect(
            await federationClientProvider.diff!("id", olds, {
                ...fcInputs(),
                bridgeUrl: "https://bridge.example.com",
            }),
        ).toEqual({
            changes: true,
            replaces: [],
            deleteBeforeReplace: true,
        });
        expect(
            (
                await federationClientProvider.diff!("id", olds, {
                    ...fcInputs(),
                    redirectUri: "https://other/endpoint",
                })
            ).replaces,
        ).toEqual(["redirectUri"]);
        answer = { status: 404, body: {} };
        await withTrust(() =>
            federationClientProvider.delete!("id", {
                ...fcInputs(),
                clientId: "tenant-acme",
                clientSecret: "s",
            }),
        );
        expect(requests.at(-1)).toMatchObject({
            method: "DELETE",
            path: "/v1/tenants/acme/federation-client",
        });
    });
});

describe("dynamic providers", () => {
    it("move to a new bridge URL in place, without a new certificate", async () => {
        const olds = { ...inputs(), certificatePem: sub.pem, chainPem: [ica.pem] };
        expect(
            await signedSubCaProvider.diff!("id", olds, {
                ...inputs(),
                bridgeUrl: "https://bridge.example.com",
            }),
        ).toEqual({
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        expect(
            await signedSubCaProvider.diff!("id", olds, {
                ...inputs(),
                permittedNames: ["acme.devices.cdm-platform"],
            }),
        ).toEqual({
            changes: true,
            replaces: ["permittedNames"],
            deleteBeforeReplace: false,
        });
    });

    it("serialize with their closures, as the engine's provider host runs them", async () => {
        for (const provider of [signedSubCaProvider, federationClientProvider, amqpPublisherProvider]) {
            const serialized = await pulumi.runtime.serializeFunction(() => provider);
            expect(serialized.text).toContain("callBridge");
            expect(serialized.text).not.toContain("automation-token");
        }
    });
});
