/**
 * The device's Telegraf: the real Telegraf 1.39.2 (scripts/peers/telegraf.sh) runs one `--test`
 * round of the configuration the program renders (the checked-in file's text) in a network
 * namespace whose only interfaces are loopback and a real WireGuard `wg0` (wireguard-go), with
 * the variables of telegraf.env: CPU, memory, disk and network lines, each tagged with the
 * device id (the disk's own `device` tag replaced), wg0's counters among them; without the
 * variables it refuses to start.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceTelegrafConfig } from "../../components/telegraf/device";
import { installWireguard, Namespace, wireguardKeys } from "../support/netns";
import { installTelegraf, parseLine } from "../support/telegraf";

let telegraf: string;
let dir: string;

beforeAll(() => {
    telegraf = installTelegraf();
    dir = mkdtempSync(join(tmpdir(), "cdm-telegraf-device-"));
});

afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the device's Telegraf", () => {
    const deviceId = "dev-telegraf-1";
    const env = {
        CDM_DEVICE_ID: deviceId,
        CDM_INFLUX_URL: "https://influx.acme.cdm.example.com",
        CDM_INFLUX_ORG: "acme",
        CDM_INFLUX_BUCKET: "devices",
        CDM_INFLUX_TOKEN: "device-write-token",
    };
    let ns: Namespace;
    let config: string;

    beforeAll(() => {
        installWireguard();
        ns = new Namespace(`cdm-tg-${process.pid}`);
        ns.wireguard("wg0", wireguardKeys("telegraf-device").file, "10.8.0.2/32");
        config = join(dir, "device.conf");
        writeFileSync(config, deviceTelegrafConfig());
    });

    afterAll(() => ns?.delete());

    /** `telegraf --test` inside the device's namespace with `variables` as its whole environment. */
    const testRound = (variables: Record<string, string>) =>
        spawnSync("ip", ["netns", "exec", ns.name, telegraf, "--test", "--config", config], {
            env: { PATH: process.env.PATH, ...variables },
            encoding: "utf8",
            timeout: 60_000,
        });

    it("gathers CPU, memory, disk and every interface but loopback, wg0 included, each tagged with the device", () => {
        const run = testRound(env);
        expect(run.status, run.stderr).toBe(0);
        const lines = run.stdout
            .split("\n")
            .filter((l) => l.startsWith("> "))
            .map((l) => parseLine(l.slice(2)));
        expect(new Set(lines.map((l) => l.measurement))).toEqual(new Set(["cpu", "mem", "disk", "net"]));
        for (const line of lines) {
            expect(line.tags.device, JSON.stringify(line)).toBe(deviceId);
            expect(line.tags).not.toHaveProperty("host");
        }
        const cpu = lines.filter((l) => l.measurement === "cpu");
        expect(cpu.map((l) => l.tags)).toEqual([{ cpu: "cpu-total", device: deviceId }]);
        expect(Object.keys(cpu[0].fields)).toEqual(expect.arrayContaining(["usage_idle", "usage_active"]));
        expect(lines.find((l) => l.measurement === "mem")!.fields).toHaveProperty("used_percent");
        expect(lines.filter((l) => l.measurement === "net").map((l) => l.tags)).toEqual([
            { device: deviceId, interface: "wg0" },
        ]);
        const root = lines.find((l) => l.measurement === "disk" && l.tags.path === "/");
        expect(root?.fields).toHaveProperty("used_percent");
        expect(lines.filter((l) => l.measurement === "disk").map((l) => l.tags.fstype)).not.toContain(
            "tmpfs",
        );
    });

    it("refuses to start without the enrollment's variables, naming the one missing", () => {
        const { CDM_DEVICE_ID: _, ...rest } = env;
        const run = testRound(rest);
        expect(run.status).not.toBe(0);
        expect(run.stderr).toContain("CDM_DEVICE_ID is missing a value: is not set");
    });
});
