/**
 * The bridge's hawkBit client against a real hawkBit (0.3.0M7 on PostgreSQL): the tenant
 * configuration, targets with their DDI tokens, and a device's side of an update over DDI with
 * the token the client set.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HawkbitClient, HawkbitError, tenantConfig } from "../../runtime/shared/hawkbit";
import { HawkbitUser, RunningHawkbit, startHawkbit } from "../support/hawkbit";

let hb: RunningHawkbit;
let client: HawkbitClient;

/** A management API call as `user`; returns status and parsed body. */
async function mgmt(user: HawkbitUser, method: string, path: string, body?: unknown) {
    const response = await fetch(`${hb.url}${path}`, {
        method,
        headers: {
            authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A device's DDI request, authenticated with `token` (no header when undefined). */
async function ddi(url: string, token: string | undefined, method = "GET", body?: unknown) {
    const response = await fetch(url, {
        method,
        headers: {
            ...(token === undefined ? {} : { authorization: `TargetToken ${token}` }),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
    const port = 18700 + 2 * Math.floor(Math.random() * 100);
    hb = await startHawkbit(port);
    client = new HawkbitClient({ url: hb.url, ...hb.bridge, tenant: hb.tenant });
});

afterAll(async () => {
    await hb?.stop();
});

describe("hawkBit's management API users", () => {
    it("has no default admin, and the bridge user may not touch the software repository", async () => {
        expect((await mgmt({ username: "admin", password: "admin" }, "GET", "/rest/v1/targets")).status).toBe(
            401,
        );
        const module = [{ name: "sneaky", version: "1", type: "os" }];
        expect((await mgmt(hb.bridge, "POST", "/rest/v1/softwaremodules", module)).status).toBe(403);
        expect((await mgmt(hb, "GET", "/rest/v1/softwaremodules")).status).toBe(200);
    });
});

describe("tenant configuration", () => {
    it("sets 30 s polling and target-token authentication", async () => {
        const before = await mgmt(hb, "GET", "/rest/v1/system/configs/pollingTime");
        expect(before.body).toMatchObject({ value: "00:05:00", global: true });
        await client.applyTenantConfig(tenantConfig());
        const read = async (key: string) =>
            (await mgmt(hb, "GET", `/rest/v1/system/configs/${key}`)).body as {
                value: unknown;
                global: boolean;
            };
        expect(await read("pollingTime")).toMatchObject({ value: "00:00:30", global: false });
        expect(await read("authentication.targettoken.enabled")).toMatchObject({
            value: true,
            global: false,
        });
        expect(await read("authentication.gatewaytoken.enabled")).toMatchObject({
            value: false,
            global: false,
        });
    });

    it("refuses a polling time below hawkBit's minimum with a 400 naming the call", async () => {
        const error = await client.applyTenantConfig({ pollingTime: "00:00:10" }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HawkbitError);
        expect((error as HawkbitError).status).toBe(400);
        expect((error as HawkbitError).code).toBe("hawkbit.server.error.configValueInvalid");
        expect((error as HawkbitError).message).toBe(
            "hawkBit answered 400 to PUT /rest/v1/system/configs/pollingTime: " +
                "The given configuration value is not in the allowed range from 00:00:30 to 23:59:59.",
        );
    });
});

describe("targets and their DDI tokens", () => {
    const id = "dev-0001";
    const first = "first-Token_0123456789abcdefABCDEF";
    const second = "second-Token_0123456789abcdefABCDE";

    it("creates a target with the token, and the device polls with it every 30 s", async () => {
        expect(await client.ensureTarget(id, id, first)).toBe("created");
        expect(await client.getTarget(id)).toEqual({ controllerId: id, name: id, securityToken: first });
        const poll = await ddi(client.ddiUrl(id), first);
        expect(poll.status).toBe(200);
        expect(poll.body.config.polling.sleep).toBe("00:00:30");
        expect(poll.body._links.deploymentBase).toBeUndefined();
    });

    it("is idempotent, and rotates the token when given a new one", async () => {
        expect(await client.ensureTarget(id, id, first)).toBe("updated");
        expect((await client.getTarget(id))?.securityToken).toBe(first);
        expect((await ddi(client.ddiUrl(id), first)).status).toBe(200);
        expect(await client.ensureTarget(id, id, second)).toBe("updated");
        expect(await client.getTarget(id)).toEqual({ controllerId: id, name: id, securityToken: second });
        expect((await ddi(client.ddiUrl(id), second)).status).toBe(200);
        expect((await ddi(client.ddiUrl(id), first)).status).toBe(401);
    });

    it("refuses a wrong token, no token, and another target's token", async () => {
        expect((await ddi(client.ddiUrl(id), "not-the-token")).status).toBe(401);
        expect((await ddi(client.ddiUrl(id), undefined)).status).toBe(401);
        const other = "dev-0002";
        const otherToken = "other-Token_0123456789abcdefABCDEF";
        expect(await client.ensureTarget(other, other, otherToken)).toBe("created");
        expect((await ddi(client.ddiUrl(id), otherToken)).status).toBe(401);
        expect((await ddi(client.ddiUrl(other), otherToken)).status).toBe(200);
        expect(await client.deleteTarget(other)).toBe(true);
    });

    it("delivers an assigned update over DDI and records the device's feedback", async () => {
        const modules = await mgmt(hb, "POST", "/rest/v1/softwaremodules", [
            { name: "firmware", version: "1.0.0", type: "os" },
        ]);
        expect(modules.status).toBe(201);
        const sets = await mgmt(hb, "POST", "/rest/v1/distributionsets", [
            { name: "firmware", version: "1.0.0", type: "os", modules: [{ id: modules.body[0].id }] },
        ]);
        expect(sets.status).toBe(201);
        const assigned = await mgmt(hb, "POST", `/rest/v1/targets/${id}/assignedDS`, {
            id: sets.body[0].id,
            type: "forced",
        });
        expect(assigned.status).toBe(200);
        expect(assigned.body.assigned).toBe(1);
        const actionId: number = assigned.body.assignedActions[0].id;

        const poll = await ddi(client.ddiUrl(id), second);
        expect(poll.status).toBe(200);
        const deploymentBase: string = poll.body._links.deploymentBase.href;
        expect(deploymentBase.startsWith(`${client.ddiUrl(id)}/deploymentBase/${actionId}`)).toBe(true);

        const deployment = await ddi(deploymentBase, second);
        expect(deployment.status).toBe(200);
        expect(deployment.body.id).toBe(String(actionId));
        expect(deployment.body.deployment).toMatchObject({ download: "forced", update: "forced" });
        expect(deployment.body.deployment.chunks).toEqual([
            { part: "os", name: "firmware", version: "1.0.0", artifacts: [] },
        ]);
        expect((await ddi(deploymentBase, "not-the-token")).status).toBe(401);

        // 0.3's feedback names the action in the body too (1.x ignores the field); rauc-hawkbit-updater sends it.
        const feedback = await ddi(
            `${client.ddiUrl(id)}/deploymentBase/${actionId}/feedback`,
            second,
            "POST",
            {
                id: String(actionId),
                status: { execution: "closed", result: { finished: "success" } },
            },
        );
        expect(feedback.status).toBe(200);
        const action = await mgmt(hb, "GET", `/rest/v1/targets/${id}/actions/${actionId}`);
        expect(action.body).toMatchObject({ id: actionId, type: "update", status: "finished" });
        const target = await mgmt(hb, "GET", `/rest/v1/targets/${id}`);
        expect(target.body.updateStatus).toBe("in_sync");
        expect((await ddi(client.ddiUrl(id), second)).body._links.deploymentBase).toBeUndefined();
    });

    it("deletes the target: the device is refused, and a second delete reports none", async () => {
        expect(await client.deleteTarget(id)).toBe(true);
        expect(await client.getTarget(id)).toBeUndefined();
        expect((await mgmt(hb, "GET", `/rest/v1/targets/${id}`)).status).toBe(404);
        expect((await ddi(client.ddiUrl(id), second)).status).toBe(401);
        expect(await client.deleteTarget(id)).toBe(false);
    });
});

describe("artifacts", () => {
    it("stores an uploaded bundle; links follow the ingress, downloads the configured origin", async () => {
        const id = "dev-0003";
        const token = "bundle-Token_0123456789abcdefABCDEF";
        expect(await client.ensureTarget(id, id, token)).toBe("created");
        const modules = await mgmt(hb, "POST", "/rest/v1/softwaremodules", [
            { name: "bundle", version: "2.0.0", type: "os" },
        ]);
        const moduleId: number = modules.body[0].id;
        const bundle = randomBytes(4096);
        const form = new FormData();
        form.append("file", new Blob([bundle]), "update.raucb");
        const upload = await fetch(`${hb.url}/rest/v1/softwaremodules/${moduleId}/artifacts`, {
            method: "POST",
            headers: {
                authorization: `Basic ${Buffer.from(`${hb.username}:${hb.password}`).toString("base64")}`,
            },
            body: form,
        });
        expect(upload.status).toBe(201);
        const sets = await mgmt(hb, "POST", "/rest/v1/distributionsets", [
            { name: "bundle", version: "2.0.0", type: "os", modules: [{ id: moduleId }] },
        ]);
        await mgmt(hb, "POST", `/rest/v1/targets/${id}/assignedDS`, { id: sets.body[0].id, type: "forced" });

        // As ingress-nginx forwards a device's request that arrived over TLS at the OTA host.
        const headers = {
            authorization: `TargetToken ${token}`,
            "x-forwarded-proto": "https",
            "x-forwarded-host": "ota.example.test",
            "x-forwarded-port": "443",
        };
        const poll: any = await (await fetch(client.ddiUrl(id), { headers })).json();
        const deploymentPath = `/DEFAULT/controller/v1/${id}/deploymentBase/`;
        expect(poll._links.deploymentBase.href).toMatch(`https://ota.example.test${deploymentPath}`);
        const deploymentUrl = poll._links.deploymentBase.href.replace("https://ota.example.test", hb.url);
        const deployment: any = await (await fetch(deploymentUrl, { headers })).json();
        // Download links start with settings.ts's public origin, here hawkBit's own.
        const href = `${client.ddiUrl(id)}/softwaremodules/${moduleId}/artifacts/update.raucb`;
        expect(deployment.deployment.chunks[0].artifacts).toMatchObject([
            { filename: "update.raucb", size: 4096, _links: { "download-http": { href } } },
        ]);
        const download = await fetch(href, { headers: { authorization: `TargetToken ${token}` } });
        expect(download.status).toBe(200);
        expect(Buffer.from(await download.arrayBuffer()).equals(bundle)).toBe(true);
        expect((await fetch(href)).status).toBe(401);
        expect(await client.deleteTarget(id)).toBe(true);
    });
});

describe("client errors", () => {
    it("name the call but never the password or a token", async () => {
        const wrong = new HawkbitClient({ url: hb.url, username: "bridge", password: "wrong-Secret-123" });
        const error = await wrong
            .ensureTarget("dev-x", "dev-x", "Token-never-shown")
            .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HawkbitError);
        expect((error as HawkbitError).status).toBe(401);
        expect((error as HawkbitError).message).toBe(
            "hawkBit answered 401 to POST /rest/v1/targets: Unauthorized",
        );
        expect(JSON.stringify(error)).not.toContain("wrong-Secret-123");
        expect(inspect(wrong, { showHidden: true })).not.toContain("wrong-Secret-123");
        expect(String((error as Error).stack)).not.toContain("Token-never-shown");
    });

    it("refuses an empty token (hawkBit would make one up) and reports an unreachable hawkBit as status 0", async () => {
        await expect(client.ensureTarget("dev-y", "dev-y", "")).rejects.toThrow(RangeError);
        expect(await client.getTarget("dev-y")).toBeUndefined();
        // A port that was free a moment ago: nothing listens there.
        const closed = await new Promise<number>((resolve) => {
            const server = createServer().listen(0, "127.0.0.1", () => {
                const { port } = server.address() as { port: number };
                server.close(() => resolve(port));
            });
        });
        const gone = new HawkbitClient({
            url: `http://127.0.0.1:${closed}`,
            username: "u",
            password: "p",
            timeoutMs: 2000,
        });
        const error = await gone.deleteTarget("dev-y").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HawkbitError);
        expect((error as HawkbitError).status).toBe(0);
        expect((error as HawkbitError).message).toBe(
            "hawkBit did not answer DELETE /rest/v1/targets/dev-y: ECONNREFUSED",
        );
        // A server that takes the connection and never answers.
        const silent = createServer(() => {}).listen(0, "127.0.0.1");
        await new Promise((resolve) => silent.once("listening", resolve));
        const hung = new HawkbitClient({
            url: `http://127.0.0.1:${(silent.address() as { port: number }).port}`,
            username: "u",
            password: "p",
            timeoutMs: 300,
        });
        const timeout = await hung.getTarget("dev-y").catch((e: unknown) => e);
        silent.close();
        expect((timeout as HawkbitError).status).toBe(0);
        expect((timeout as HawkbitError).message).toBe(
            "hawkBit did not answer GET /rest/v1/targets/dev-y: no answer in 300 ms",
        );
    });

    it("answers 409 on a duplicate create and 400 on an invalid controller ID", async () => {
        expect(await client.ensureTarget("dev-z", "dev-z", "z-Token")).toBe("created");
        const duplicate = await mgmt(hb.bridge, "POST", "/rest/v1/targets", [
            { controllerId: "dev-z", name: "dev-z", securityToken: "z-Token" },
        ]);
        expect(duplicate.status).toBe(409);
        expect(duplicate.body.errorCode).toBe("hawkbit.server.error.repo.entitiyAlreayExists");
        const error = await client.ensureTarget("dev z", "dev z", "z-Token").catch((e: unknown) => e);
        expect((error as HawkbitError).status).toBe(400);
        expect((error as HawkbitError).message).toBe(
            "hawkBit answered 400 to POST /rest/v1/targets: controllerId has whitespaces which are not allowed.",
        );
        expect(await client.deleteTarget("dev-z")).toBe(true);
    });
});
