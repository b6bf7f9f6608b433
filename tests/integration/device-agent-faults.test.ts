/**
 * The device enrollment agent (device-image/rootfs/usr/sbin/cdm-enroll) refused and misled: the
 * real tenant bridge (a process on real PostgreSQL, step-ca and hawkBit) refuses a used token;
 * then a test-only fault-injecting proxy in front of the bridge shows the agent retrying 5xx,
 * 429, timeouts, cut connections and malformed answers with the same request, and stopping on a
 * 4xx without leaving anything half-written.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { x509 } from "../../runtime/shared/x509";
import { DeviceRoot, enrolledTree, lines, openssl, refusedTree } from "../support/device-agent";
import { AgentBridge, startAgentBridge } from "../support/device-agent-peers";

const tag = randomBytes(3).toString("hex");
const deviceId = `dev-agent-${tag}`;

let agent: AgentBridge;
/** A device enrolled before the tests, and its used token; its answer is the model of the faked ones. */
let device: DeviceRoot;
let deviceToken: string;

beforeAll(async () => {
    agent = await startAgentBridge();
    ({ device, token: deviceToken } = await agent.enrolledDevice("reference", deviceId));
}, 300_000);

afterAll(async () => {
    await agent?.close();
});

describe("refusals by the real bridge", () => {
    it("stops on a used token with the bridge's message (exit 3), leaving only its keys", async () => {
        // A reflashed unit (new keys) holding the token its first life used.
        const reflashed = agent.deviceRoot("reflashed", deviceId, agent.bridge.url);
        reflashed.writeToken(deviceToken);
        const run = await reflashed.run();
        expect(run.status).toBe(3);
        expect(lines(run.stderr).at(-1)).toBe(
            "cdm-enroll: enrollment refused by the bridge (HTTP 401: enrollment_token_refused: " +
                "enrollment token refused: used up); not retrying",
        );
        expect(reflashed.tree()).toEqual(refusedTree);
    });
});

describe("a misbehaving server (test-only fault injection in front of the real bridge)", () => {
    /**
     * A full-shaped answer for device `id`: the reference device's, with its certificate, so
     * not for `id`'s key.
     */
    function fakeAnswer(id: string, change: (a: any) => void = () => undefined): string {
        const answer = JSON.parse(device.read("state/enrollment.json"));
        answer.device_id = id;
        answer.hawkbit.controller_id = id;
        change(answer);
        return JSON.stringify(answer);
    }

    it("retries 500, truncated JSON, a wrongly typed field and a certificate for another key; then enrolls", async () => {
        const id = `dev-faults-${tag}`;
        const faulty = agent.deviceRoot("faults", id, agent.proxyUrl);
        const token = await agent.enrollmentToken(id);
        faulty.writeToken(token);
        agent.proxy.script([
            { status: 500, body: '{"error":"internal","message":"boom"}' },
            { status: 201, body: fakeAnswer(id).slice(0, 300) },
            { status: 201, body: fakeAnswer(id, (a) => (a.wireguard.persistent_keepalive = "25")) },
            { status: 201, body: fakeAnswer(id) },
        ]);
        const run = await faulty.run();
        expect(run.status, run.stderr).toBe(0);
        const log = lines(run.stderr);
        expect(log.filter((l) => l.includes("attempt"))).toEqual([
            "cdm-enroll: enrollment: attempt 1 failed: HTTP 500: internal: boom; retrying in Ns",
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 2 failed: HTTP 201 with a malformed answer: not one JSON object \(truncated\?\): parse error: Unfinished .* at EOF at line 1, column 300; retrying in Ns$/,
            ),
            "cdm-enroll: enrollment: attempt 3 failed: HTTP 201 with a malformed answer: missing or invalid: wireguard.persistent_keepalive; retrying in Ns",
            "cdm-enroll: enrollment: attempt 4 failed: HTTP 201 with a malformed answer: the certificate is not for the device key; retrying in Ns",
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 5)",
        ]);
        expect(agent.proxy.requests.map((r) => r.fault === "forward")).toEqual([
            false,
            false,
            false,
            false,
            true,
        ]);
        // Every attempt sent the same request: the same key, token and WireGuard key.
        const bodies = agent.proxy.requests.map((r) => JSON.stringify(r.body));
        expect(new Set(bodies).size).toBe(1);
        const request = agent.proxy.requests[0].body;
        expect(Object.keys(request).sort()).toEqual(["csr_pem", "enrollment_token", "wireguard_public_key"]);
        expect(request.enrollment_token).toBe(token);
        expect(request.wireguard_public_key).toBe(faulty.read("state/wireguard.pub").trim());
        // The request: CN = the device id, no names or other extensions, the device key's public half.
        expect(openssl(["req", "-noout", "-subject", "-nameopt", "RFC2253"], request.csr_pem)).toBe(
            `subject=CN=${id}\n`,
        );
        const csr = new x509.Pkcs10CertificateRequest(request.csr_pem);
        expect([csr.subject, csr.extensions.length, csr.attributes.length]).toEqual([`CN=${id}`, 0, 0]);
        expect(openssl(["req", "-noout", "-pubkey"], request.csr_pem)).toBe(
            openssl(["pkey", "-in", join(faulty.state, "device.key"), "-pubout"]),
        );
        expect(faulty.tree()).toEqual(enrolledTree);
        expect((await agent.bridgeDevice(id)).id).toBe(id);
    });

    it("retries a timeout, a cut connection, 429 (after its Retry-After) and 503; then enrolls", async () => {
        const id = `dev-timeouts-${tag}`;
        const faulty = agent.deviceRoot("timeouts", id, agent.proxyUrl);
        faulty.writeToken(await agent.enrollmentToken(id));
        agent.proxy.script([
            "hang",
            "cut",
            { status: 429, headers: { "retry-after": "2" }, body: '{"error":"busy","message":"slow down"}' },
            { status: 503, body: '{"error":"peer_unavailable","message":"step-ca is unreachable"}' },
        ]);
        const run = await faulty.run([], { CDM_HTTP_TIMEOUT: "3" });
        expect(run.status, run.stderr).toBe(0);
        const log = run.stderr
            .trimEnd()
            .split("\n")
            .filter((l) => l.includes("attempt"));
        expect(log).toEqual([
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 1 failed: curl: \(28\) Operation timed out after 300\d milliseconds with 0 bytes received \(curl exit 28\); retrying in [12]s$/,
            ),
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 2 failed: curl: \(18\) transfer closed with \d+ bytes remaining to read \(curl exit 18\); retrying in [12]s$/,
            ),
            "cdm-enroll: enrollment: attempt 3 failed: HTTP 429: busy: slow down; retrying in 2s",
            expect.stringMatching(
                /^cdm-enroll: enrollment: attempt 4 failed: HTTP 503: peer_unavailable: step-ca is unreachable; retrying in [12]s$/,
            ),
            "cdm-enroll: enrollment: the bridge answered HTTP 201 (attempt 5)",
        ]);
        expect(agent.proxy.requests).toHaveLength(5);
        expect(faulty.tree()).toEqual(enrolledTree);
    });

    it("stops on 403 with the server's message (exit 3) and leaves nothing half-written; gives up after CDM_MAX_ATTEMPTS (exit 1)", async () => {
        const id = `dev-refused-${tag}`;
        const refused = agent.deviceRoot("refused", id, agent.proxyUrl);
        const token = await agent.enrollmentToken(id);
        refused.writeToken(token);
        agent.proxy.script([
            { status: 403, body: '{"error":"forbidden","message":"this device may not enroll here"}' },
        ]);
        const run = await refused.run();
        expect(run.status).toBe(3);
        expect(lines(run.stderr).slice(-2)).toEqual([
            `cdm-enroll: enrolling ${id} at ${agent.proxyUrl}`,
            "cdm-enroll: enrollment refused by the bridge (HTTP 403: forbidden: this device may not enroll here); not retrying",
        ]);
        expect(agent.proxy.requests).toHaveLength(1);
        expect(refused.tree()).toEqual(refusedTree);
        expect(readFileSync(refused.tokenFile, "utf8")).toBe(`${token}\n`);
        const keys = ["state/device.key", "state/wireguard.key"].map((p) => refused.read(p));

        agent.proxy.script([
            { status: 502, body: '{"error":"peer_refused","message":"step-ca refused"}' },
            { status: 500, body: "<html>oops</html>" },
        ]);
        const gaveUp = await refused.run([], { CDM_MAX_ATTEMPTS: "2" });
        expect(gaveUp.status).toBe(1);
        expect(lines(gaveUp.stderr).slice(-2)).toEqual([
            "cdm-enroll: enrollment: attempt 1 failed: HTTP 502: peer_refused: step-ca refused; retrying in Ns",
            "cdm-enroll: enrollment: giving up after 2 attempts; the last: HTTP 500",
        ]);
        expect(refused.tree()).toEqual(refusedTree);
        // The keys were made once and kept for the next attempt.
        expect(["state/device.key", "state/wireguard.key"].map((p) => refused.read(p))).toEqual(keys);
    });
});
