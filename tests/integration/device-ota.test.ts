/**
 * The device's OTA confirmation with real RAUC (tests/support/rauc.ts: Debian's rauc 1.8 as a
 * service on a private D-Bus, the image's system.conf with its GRUB backend on an environment
 * file, slots in files): a signed bundle installed through the service runs the image's
 * post-install handler; a "reboot" restarts the service from the new slot (or, for a fallback,
 * from the old one); then `dash cdm-ota-confirm` decides, marks the slot through RAUC, and
 * writes the OTA status word cdm-telemetry publishes. Nothing about RAUC is simulated but the
 * boot itself (`--override-boot-slot` instead of the kernel command line) and the bundle format
 * (plain, as this machine has no device-mapper for verity). The health checks' probes are
 * stand-ins: `cdm-telemetry --once` is /bin/true or /bin/false here (the publisher itself is
 * tested in device-telemetry.test.ts), and the reboot is a command that leaves a file.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HawkbitClient, tenantConfig } from "../../runtime/shared/hawkbit";
import { RunningHawkbit, startHawkbit } from "../support/hawkbit";
import { RaucDevice } from "../support/rauc";
import { projectRoot } from "../../tools/stack-config";

const confirmScript = join(projectRoot, "device-image/rootfs/usr/sbin/cdm-ota-confirm");
const otaLib = join(projectRoot, "device-image/rootfs/usr/lib/cdm/ota.sh");

const devices: RaucDevice[] = [];
afterEach(async () => {
    for (const d of devices.splice(0)) {
        await d.stop();
        rmSync(d.dir, { recursive: true, force: true });
    }
});

/** A device whose RAUC runs the handler with its OTA directory, booted from A. */
async function device(hawkbitConf?: string): Promise<RaucDevice> {
    const dir = mkdtempSync(join(tmpdir(), "cdm-ota-"));
    const conf = join(dir, "config.conf");
    if (hawkbitConf) writeFileSync(conf, hawkbitConf);
    // The factory image's version (slot A was never installed by RAUC).
    writeFileSync(join(dir, "os-release"), 'ID=debian\nVERSION_ID="1.0.0"\n');
    const d = await RaucDevice.create(dir, { CDM_OTA_DIR: join(dir, "ota"), CDM_HAWKBIT_CONF: conf });
    devices.push(d);
    await d.boot("A");
    return d;
}

/** `dash cdm-ota-confirm` for the device; `healthy` picks the telemetry probe's stand-in. */
function confirm(d: RaucDevice, healthy = true) {
    const run = spawnSync("dash", [confirmScript], {
        env: {
            ...d.env,
            CDM_OTA_CHECKS: "mqtt",
            CDM_TELEMETRY: healthy ? "/bin/true" : "/bin/false",
            CDM_OTA_HEALTH_TIMEOUT: "0",
            CDM_REBOOT: `touch ${join(d.dir, "rebooted")}`,
            CDM_OS_RELEASE: join(d.dir, "os-release"),
        },
        encoding: "utf8",
        timeout: 60_000,
    });
    return { status: run.status, stderr: run.stderr };
}

const ota = (d: RaucDevice, file: string) => readFileSync(join(d.dir, "ota", file), "utf8");

/** ota_decide from ota.sh under dash, on a status text. */
function decide(status: string, pending: string): string {
    const run = spawnSync("dash", ["-c", `. "${otaLib}"; ota_decide "$1" "$2"`, "ota", status, pending], {
        encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    return run.stdout.trim();
}

describe("after a RAUC install", () => {
    it("the post-install handler records the installed slot, and RAUC makes it primary", async () => {
        const d = await device();
        expect(d.install(d.bundle("2.0.0"))).toContain("succeeded");
        // from_version: what the running system's os-release says (the test machine's here).
        const running =
            /^VERSION_ID="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
        expect(ota(d, "pending")).toContain(
            `slot=rootfs.1\nbootname=B\nfrom=A\nfrom_version=${running}\naction=\n`,
        );
        expect(ota(d, "status")).toBe("installed\n");
        expect(d.status().json).toMatchObject({
            compatible: "cdm-device",
            booted: "A",
            boot_primary: "rootfs.1",
        });
        expect(d.grubenv().ORDER).toBe("B A");
    });
});

describe("cdm-ota-confirm at boot", () => {
    it("booted the new slot: marks it good, `success`, and RAUC reports the new version on B", async () => {
        const d = await device();
        d.install(d.bundle("2.0.0"));
        await d.boot("B");
        expect(decide(d.status().text, "rootfs.1")).toBe("confirm");
        const run = confirm(d);
        expect(run.stderr).toContain("marked rootfs.1 good");
        expect(run.status).toBe(0);
        expect(ota(d, "status")).toBe("success\n");
        expect(existsSync(join(d.dir, "ota/pending"))).toBe(false);
        expect(d.slot("rootfs.1")).toMatchObject({ bootname: "B", state: "booted", boot_status: "good" });
        // What cdm-telemetry publishes as sw_version and rauc_slot.
        expect(d.slot("rootfs.1").slot_status?.bundle?.version).toBe("2.0.0");
        expect(d.status().json.booted).toBe("B");
        expect(d.grubenv()).toMatchObject({ ORDER: "B A", B_OK: "1", B_TRY: "0" });
        // A second run (the unit restarted, the next boot) has nothing to do.
        expect(confirm(d).stderr).toContain("no update pending");
    });

    it("fell back to the old slot: marks the new one bad and writes `failed`", async () => {
        const d = await device();
        d.install(d.bundle("2.0.0"));
        await d.boot("A");
        expect(decide(d.status().text, "rootfs.1")).toBe("fallback");
        const run = confirm(d);
        expect(run.stderr).toContain("booted rootfs.0, not the updated slot rootfs.1");
        expect(run.status).toBe(0);
        expect(ota(d, "status")).toBe("failed\n");
        expect(existsSync(join(d.dir, "ota/pending"))).toBe(false);
        expect(d.slot("rootfs.1").boot_status).toBe("bad");
        expect(d.slot("rootfs.0")).toMatchObject({ state: "booted", boot_status: "good" });
        expect(d.grubenv()).toMatchObject({ A_OK: "1", B_OK: "0" });
        expect(d.status().json.boot_primary).toBe("rootfs.0");
    });

    it("no update pending: does nothing", async () => {
        const d = await device();
        const before = d.grubenv();
        expect(decide(d.status().text, "")).toBe("none");
        const run = confirm(d);
        expect(run.status).toBe(0);
        expect(run.stderr).toContain("no update pending");
        expect(existsSync(join(d.dir, "ota/status"))).toBe(false);
        expect(d.grubenv()).toEqual(before);
        expect(d.slot("rootfs.0").boot_status).toBe("good");
    });

    it("new slot unhealthy: marks it bad, `rolling-back`, reboots, and the next boot reports `failed`", async () => {
        const d = await device();
        d.install(d.bundle("2.0.0"));
        await d.boot("B");
        const run = confirm(d, false);
        expect(run.stderr).toContain("health: cdm-telemetry could not publish");
        expect(run.status).toBe(0);
        expect(existsSync(join(d.dir, "rebooted"))).toBe(true);
        expect(ota(d, "status")).toBe("rolling-back\n");
        expect(d.slot("rootfs.1").boot_status).toBe("bad");
        expect(d.status().json.boot_primary).toBe("rootfs.0");
        // GRUB skips a slot that is not OK: the next boot is A.
        await d.boot("A");
        expect(confirm(d).status).toBe(0);
        expect(ota(d, "status")).toBe("failed\n");
    });

    it("RAUC reports no booted slot (booted from elsewhere): leaves the update pending", async () => {
        const d = await device();
        d.install(d.bundle("2.0.0"));
        await d.boot("/dev/nfs");
        expect(decide(d.status().text, "rootfs.1")).toBe("unknown");
        expect(confirm(d).status).toBe(0);
        expect(ota(d, "status")).toBe("installed\n");
        expect(existsSync(join(d.dir, "ota/pending"))).toBe(true);
    });
});

/**
 * The result in a real hawkBit (tests/support/hawkbit.ts), over DDI with the target token from
 * rauc-hawkbit-updater's config.conf (plain HTTP on loopback here, `ssl = false`).
 */
describe("the result in hawkBit", () => {
    let hb: RunningHawkbit;
    let client: HawkbitClient;

    beforeAll(async () => {
        hb = await startHawkbit(18900 + 2 * Math.floor(Math.random() * 50));
        client = new HawkbitClient({ url: hb.url, ...hb.bridge, tenant: hb.tenant });
        await client.applyTenantConfig(tenantConfig());
    });
    afterAll(async () => {
        await hb?.stop();
    });

    async function mgmt(method: string, path: string, body?: unknown) {
        const response = await fetch(`${hb.url}${path}`, {
            method,
            headers: {
                authorization: `Basic ${Buffer.from(`${hb.username}:${hb.password}`).toString("base64")}`,
                ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
    }

    /** A target with an update assigned (an open action), and the config.conf the agent would write. */
    async function assignedTarget() {
        const id = `dev-ota-${randomBytes(3).toString("hex")}`;
        const token = randomBytes(16).toString("hex");
        expect(await client.ensureTarget(id, id, token)).toBe("created");
        const modules = await mgmt("POST", "/rest/v1/softwaremodules", [
            { name: id, version: "2.0.0", type: "os" },
        ]);
        const sets = await mgmt("POST", "/rest/v1/distributionsets", [
            { name: id, version: "2.0.0", type: "os", modules: [{ id: modules.body[0].id }] },
        ]);
        const assigned = await mgmt("POST", `/rest/v1/targets/${id}/assignedDS`, {
            id: sets.body[0].id,
            type: "forced",
        });
        expect(assigned.status).toBe(200);
        const conf = [
            "[client]",
            `hawkbit_server = ${hb.url.replace("http://", "")}`,
            "ssl = false",
            "ssl_verify = true",
            `tenant_id = ${hb.tenant}`,
            `target_name = ${id}`,
            `auth_token = ${token}`,
            "bundle_download_location = /tmp/bundle.raucb",
            "",
            "[device]",
            "product = cdm-device",
            `serial = ${id}`,
            "",
        ].join("\n");
        return { id, token, actionId: assigned.body.assignedActions[0].id as number, conf };
    }

    it("closes the still-open action with success and sets the target's attributes", async () => {
        const target = await assignedTarget();
        const d = await device(target.conf);
        d.install(d.bundle("2.0.0"));
        // The handler found the open action over DDI while RAUC installed.
        expect(ota(d, "pending")).toContain(`action=${target.actionId}\n`);
        await d.boot("B");
        const run = confirm(d);
        expect(run.stderr).toContain(`hawkBit: action ${target.actionId} closed with success`);
        expect(run.status).toBe(0);
        const action = await mgmt("GET", `/rest/v1/targets/${target.id}/actions/${target.actionId}`);
        expect(action.body).toMatchObject({ id: target.actionId, status: "finished" });
        const attributes = await mgmt("GET", `/rest/v1/targets/${target.id}/attributes`);
        expect(attributes.body).toMatchObject({ ota_result: "success", sw_version: "2.0.0", rauc_slot: "B" });
    });

    it("after rauc-hawkbit-updater closed the action at install, reports a fallback as attributes", async () => {
        const target = await assignedTarget();
        const d = await device(target.conf);
        d.install(d.bundle("2.0.0"));
        // What rauc-hawkbit-updater sends once RAUC's install returns (install_complete_cb):
        // closed, success, before any reboot.
        const feedback = await fetch(
            `${hb.url}/${hb.tenant}/controller/v1/${target.id}/deploymentBase/${target.actionId}/feedback`,
            {
                method: "POST",
                headers: { authorization: `TargetToken ${target.token}`, "content-type": "application/json" },
                body: JSON.stringify({
                    id: String(target.actionId),
                    status: {
                        execution: "closed",
                        result: { finished: "success" },
                        details: ["Software bundle installed successfully."],
                    },
                }),
            },
        );
        expect(feedback.status).toBe(200);
        await d.boot("A");
        const run = confirm(d);
        expect(run.status).toBe(0);
        expect(ota(d, "status")).toBe("failed\n");
        const attributes = await mgmt("GET", `/rest/v1/targets/${target.id}/attributes`);
        expect(attributes.body).toMatchObject({
            ota_result: "failure",
            sw_version: "1.0.0",
            rauc_slot: "A",
        });
        // hawkBit answers 410 Gone to feedback on a closed action.
        expect(run.stderr).toContain(`hawkBit: action ${target.actionId} was already closed`);
        const action = await mgmt("GET", `/rest/v1/targets/${target.id}/actions/${target.actionId}`);
        expect(action.body).toMatchObject({ status: "finished" });
    });
});
