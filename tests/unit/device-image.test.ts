/**
 * The device image's files that nothing runs here: RAUC's system.conf (exact keys), the ttyd and
 * OTA units against what the agent writes and what the scripts read, and the simulated-device
 * Dockerfile's sources (there is no Docker engine to build it).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../tools/stack-config";

const image = join(projectRoot, "device-image");
const rootfs = join(image, "rootfs");
const read = (path: string) => readFileSync(join(rootfs, path), "utf8");

/** INI/unit text as section → key → values (repeated keys kept in order; comments dropped). */
function sections(text: string): Record<string, Record<string, string[]>> {
    const out: Record<string, Record<string, string[]>> = {};
    let current = "";
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) continue;
        const header = /^\[(.+)\]$/.exec(line);
        if (header) {
            current = header[1];
            out[current] ??= {};
            continue;
        }
        const at = line.indexOf("=");
        const key = line.slice(0, at).trim();
        (out[current][key] ??= []).push(line.slice(at + 1).trim());
    }
    return out;
}

/** The KEY names files.sh writes into `$out/<marker>` (the `{ echo … } >file` block). */
function envKeysWritten(marker: string): string[] {
    const files = read("usr/lib/cdm/files.sh");
    const end = files.indexOf(`} >"$out/${marker}"`);
    const block = files.slice(files.lastIndexOf("    {\n", end), end);
    return [...block.matchAll(/echo "([A-Z_]+)='/g)].map((m) => m[1]);
}

describe("RAUC system.conf", () => {
    it("is an A/B layout of two ext4 root slots switched by GRUB, verity bundles from the keyring", () => {
        expect(sections(read("etc/rauc/system.conf"))).toEqual({
            system: {
                compatible: ["cdm-device"],
                bootloader: ["grub"],
                grubenv: ["/boot/efi/EFI/BOOT/grubenv"],
                "bundle-formats": ["-plain"],
                "data-directory": ["/data/rauc"],
                statusfile: ["/data/rauc/central.raucs"],
            },
            keyring: { path: ["/etc/rauc/keyring.pem"] },
            handlers: { "post-install": ["/usr/libexec/cdm/rauc-post-install"] },
            "slot.rootfs.0": { device: ["/dev/disk/by-partlabel/rootfs-a"], type: ["ext4"], bootname: ["A"] },
            "slot.rootfs.1": { device: ["/dev/disk/by-partlabel/rootfs-b"], type: ["ext4"], bootname: ["B"] },
        });
    });

    it("names a handler the image ships, executable", () => {
        expect(statSync(join(rootfs, "usr/libexec/cdm/rauc-post-install")).mode & 0o111).toBe(0o111);
    });

    it("has the compatible the agent reports as rauc-hawkbit-updater's product by default", () => {
        expect(read("usr/lib/cdm/config.sh")).toContain("DEVICE_PRODUCT=cdm-device\n");
    });
});

describe("cdm-ttyd.service", () => {
    const unit = sections(read("etc/systemd/system/cdm-ttyd.service"));

    it("runs ttyd on exactly the address, port and credential the agent writes to ttyd.env", () => {
        expect(unit.Service.EnvironmentFile).toEqual(["/etc/cdm/ttyd.env"]);
        expect(envKeysWritten("ttyd.env")).toEqual(["TTYD_ADDRESS", "TTYD_PORT", "TTYD_CREDENTIAL"]);
        expect(unit.Service.ExecStart).toEqual([
            "/usr/bin/ttyd --interface ${TTYD_ADDRESS} --port ${TTYD_PORT} --writable " +
                "--credential ${TTYD_CREDENTIAL} --max-clients 4 /bin/sh -l",
        ]);
    });

    it("starts after the tunnel, restarts on failure, as the unprivileged user sysusers declares", () => {
        expect(unit.Unit).toMatchObject({
            Requires: ["wg-quick@wg0.service"],
            After: ["wg-quick@wg0.service"],
            ConditionPathExists: ["/etc/cdm/ttyd.env"],
        });
        expect(unit.Service).toMatchObject({
            Restart: ["on-failure"],
            User: ["cdm-terminal"],
            Group: ["cdm-terminal"],
            StateDirectory: ["cdm-terminal"],
            CapabilityBoundingSet: [""],
            NoNewPrivileges: ["yes"],
            ProtectSystem: ["strict"],
        });
        expect(read("usr/lib/sysusers.d/cdm.conf")).toContain(
            'u cdm-terminal - "CDM remote terminal" /var/lib/cdm-terminal /bin/sh\n',
        );
    });

    it("is among the units the agent starts, with wg-quick@, which waits for the agent's config", () => {
        expect(read("usr/lib/cdm/config.sh")).toMatch(
            /SERVICES="wg-quick@\$WG_IF\.service .*cdm-ttyd\.service"/,
        );
        expect(sections(read("etc/systemd/system/wg-quick@.service.d/cdm.conf"))).toEqual({
            Unit: { ConditionPathExists: ["/etc/wireguard/%i.conf"] },
        });
    });
});

describe("OTA confirmation", () => {
    it("writes the status word where cdm-telemetry reads it", () => {
        expect(read("usr/sbin/cdm-telemetry")).toContain(
            "OTA_STATUS_FILE=${CDM_OTA_STATUS_FILE:-/var/lib/cdm-ota/status}",
        );
        const lib = read("usr/lib/cdm/ota.sh");
        expect(lib).toContain("OTA_DIR=${CDM_OTA_DIR:-/var/lib/cdm-ota}\n");
        expect(lib).toContain("OTA_STATUS_FILE=$OTA_DIR/status\n");
    });

    it("has a oneshot unit that runs only with a pending update, after the system is up", () => {
        const unit = sections(read("etc/systemd/system/cdm-ota-confirm.service"));
        expect(unit.Unit.ConditionPathExists).toEqual(["/var/lib/cdm-ota/pending"]);
        expect(unit.Unit.After[0].split(" ")).toEqual([
            "network-online.target",
            "time-sync.target",
            "wg-quick@wg0.service",
            "cdm-telemetry.service",
            "rauc.service",
        ]);
        expect(unit.Service).toMatchObject({ Type: ["oneshot"], ExecStart: ["/usr/sbin/cdm-ota-confirm"] });
        expect(unit.Install.WantedBy).toEqual(["multi-user.target"]);
    });

    it("has rauc-hawkbit-updater reboot into the new slot after installing it", () => {
        expect(read("usr/lib/cdm/files.sh")).toContain('echo "post_update_reboot = true"');
    });
});

describe("simulated-device Dockerfile", () => {
    const dockerfile = readFileSync(join(image, "Dockerfile"), "utf8");

    it("copies only sources that exist, and is based on Debian bookworm-slim", () => {
        const copies = [...dockerfile.matchAll(/^COPY\s+(\S+)\s+(\S+)$/gm)].map((m) => m[1]);
        expect(copies).toEqual(["rootfs/", "entrypoint.sh"]);
        for (const source of copies) expect(existsSync(join(image, source)), source).toBe(true);
        expect(dockerfile).toMatch(/^FROM debian:bookworm-slim$/m);
    });

    it("marks executable only files the image has", () => {
        const chmod = /RUN chmod 0755 ([^&]+)&&/
            .exec(dockerfile)![1]
            .replace(/\\\n/g, " ")
            .trim()
            .split(/\s+/);
        expect(chmod).toContain("/usr/sbin/cdm-ota-confirm");
        for (const path of chmod.filter((p) => p !== "/usr/sbin/cdm-sim-device")) {
            expect(existsSync(join(rootfs, path)), path).toBe(true);
        }
    });

    it("enters through the simulated device's entrypoint, executable", () => {
        expect(dockerfile).toContain('ENTRYPOINT ["/usr/sbin/cdm-sim-device"]');
        expect(statSync(join(image, "entrypoint.sh")).mode & 0o111).toBe(0o111);
    });
});
