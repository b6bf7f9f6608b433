/**
 * A real RAUC (Debian's rauc 1.8, scripts/peers/rauc.sh) for the device's OTA tests: `rauc service`
 * on a private D-Bus session bus (RAUC's client and service both follow DBUS_STARTER_BUS_TYPE),
 * with the image's system.conf rendered for a temporary directory: the two root slots are 8 MiB
 * files, GRUB's environment block is a file that grub-editenv manages (RAUC's GRUB backend reads
 * and writes it), the keyring is a throwaway signing certificate. A "reboot" is a restart of the
 * service with `--override-boot-slot` (what the kernel command line would say).
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../tools/stack-config";

const rootfs = join(projectRoot, "device-image/rootfs");

/** The image's system.conf with its device paths moved under `dir`; each replaced line must exist. */
export function testSystemConf(dir: string): string {
    const replacements: [RegExp, string][] = [
        [/^grubenv=.*$/m, `grubenv=${dir}/grubenv`],
        [/^data-directory=.*$/m, `data-directory=${dir}/data`],
        [/^statusfile=.*$/m, `statusfile=${dir}/data/central.raucs`],
        [/^path=\/etc\/rauc\/keyring\.pem$/m, `path=${dir}/keyring.pem`],
        [/^post-install=.*$/m, `post-install=${rootfs}/usr/libexec/cdm/rauc-post-install`],
        [/^device=\/dev\/disk\/by-partlabel\/rootfs-a$/m, `device=${dir}/rootfs-a.img`],
        [/^device=\/dev\/disk\/by-partlabel\/rootfs-b$/m, `device=${dir}/rootfs-b.img`],
        // This machine has no device-mapper (/dev/mapper/control) for verity bundles: plain ones
        // here, whose signature RAUC checks the same way.
        [/^bundle-formats=-plain$/m, "bundle-formats=plain verity"],
    ];
    let text = readFileSync(join(rootfs, "etc/rauc/system.conf"), "utf8");
    for (const [pattern, line] of replacements) {
        if (!pattern.test(text)) throw new Error(`system.conf has no line matching ${pattern}`);
        text = text.replace(pattern, line);
    }
    return text;
}

/** A device's RAUC: its directory, its bus, and the service as it runs for one boot. */
export class RaucDevice {
    readonly conf: string;
    readonly env: Record<string, string>;
    private service?: ChildProcess;
    serviceLog = "";

    private constructor(
        readonly dir: string,
        private readonly bus: ChildProcess,
        address: string,
        extraEnv: Record<string, string>,
    ) {
        this.conf = join(dir, "system.conf");
        this.env = {
            PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
            DBUS_SESSION_BUS_ADDRESS: address,
            DBUS_STARTER_BUS_TYPE: "session",
            ...extraEnv,
        };
    }

    /** Slots, GRUB environment (A first, both good), keyring and data directory in `dir`; a bus. */
    static async create(dir: string, extraEnv: Record<string, string>): Promise<RaucDevice> {
        execFileSync(join(projectRoot, "scripts/peers/rauc.sh"), ["install"], { stdio: "inherit" });
        mkdirSync(join(dir, "data"), { recursive: true });
        for (const slot of ["rootfs-a.img", "rootfs-b.img"])
            writeFileSync(join(dir, slot), Buffer.alloc(8 << 20));
        execFileSync("grub-editenv", [join(dir, "grubenv"), "create"]);
        execFileSync("grub-editenv", [
            join(dir, "grubenv"),
            "set",
            "ORDER=A B",
            "A_OK=1",
            "B_OK=1",
            "A_TRY=0",
            "B_TRY=0",
        ]);
        execFileSync(
            "openssl",
            [
                ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
                ...[
                    "-keyout",
                    join(dir, "signing.key"),
                    "-out",
                    join(dir, "keyring.pem"),
                    "-subj",
                    "/CN=cdm bundle signing test",
                    "-days",
                    "2",
                ],
            ],
            { stdio: "ignore" },
        );
        writeFileSync(join(dir, "system.conf"), testSystemConf(dir));
        // (Its stderr only says that an unprivileged bus may not raise its file limit.)
        const bus = spawn("dbus-daemon", ["--session", "--nofork", "--print-address=1"], {
            stdio: ["ignore", "pipe", "ignore"],
        });
        const address = await new Promise<string>((resolve, reject) => {
            let out = "";
            bus.stdout!.on("data", (d: Buffer) => {
                out += d.toString();
                if (out.includes("\n")) resolve(out.trim());
            });
            bus.on("exit", (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
        });
        return new RaucDevice(dir, bus, address, extraEnv);
    }

    /** A signed bundle (plain format) holding an ext4 root of `version`, compatible with the image. */
    bundle(version: string): string {
        const input = join(this.dir, `bundle-${version}`);
        mkdirSync(input, { recursive: true });
        writeFileSync(join(input, "rootfs.ext4"), Buffer.alloc(4 << 20));
        execFileSync("mkfs.ext4", ["-q", "-F", "-L", `root-${version}`, join(input, "rootfs.ext4")]);
        writeFileSync(
            join(input, "manifest.raucm"),
            `[update]\ncompatible=cdm-device\nversion=${version}\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.ext4\n`,
        );
        const output = join(this.dir, `update-${version}.raucb`);
        execFileSync(
            "rauc",
            [
                `--cert=${join(this.dir, "keyring.pem")}`,
                `--key=${join(this.dir, "signing.key")}`,
                "bundle",
                input,
                output,
            ],
            { stdio: "ignore" },
        );
        return output;
    }

    /** (Re)starts the service as after a boot from `bootname`, and waits until it answers. */
    async boot(bootname: string): Promise<void> {
        await this.stopService();
        this.serviceLog = "";
        const service = spawn(
            "rauc",
            [`--conf=${this.conf}`, "service", `--override-boot-slot=${bootname}`],
            {
                env: this.env,
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
        service.stdout!.on("data", (d: Buffer) => (this.serviceLog += d.toString()));
        service.stderr!.on("data", (d: Buffer) => (this.serviceLog += d.toString()));
        this.service = service;
        for (let i = 0; i < 100; i++) {
            try {
                this.status();
                return;
            } catch {
                await new Promise((r) => setTimeout(r, 100));
            }
        }
        throw new Error(`rauc service did not answer:\n${this.serviceLog}`);
    }

    /** `rauc install` through the service (so the post-install handler runs as on a device). */
    install(bundle: string): string {
        return execFileSync("rauc", ["install", bundle], { env: this.env, encoding: "utf8" });
    }

    /** `rauc status --detailed --output-format=json`, as text and parsed. */
    status(): { text: string; json: RaucStatus } {
        const text = execFileSync("rauc", ["status", "--detailed", "--output-format=json"], {
            env: this.env,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
        return { text, json: JSON.parse(text) };
    }

    /** A slot's entry in the status. */
    slot(name: string): RaucSlot {
        const entry = this.status().json.slots.find((s) => name in s);
        if (!entry) throw new Error(`no slot ${name}`);
        return entry[name];
    }

    /** GRUB's environment block, as RAUC's GRUB backend left it. */
    grubenv(): Record<string, string> {
        const text = execFileSync("grub-editenv", [join(this.dir, "grubenv"), "list"], { encoding: "utf8" });
        return Object.fromEntries(
            text
                .trim()
                .split("\n")
                .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
        );
    }

    private async stopService(): Promise<void> {
        const service = this.service;
        if (!service || service.exitCode !== null) return;
        await new Promise<void>((resolve) => {
            service.once("exit", () => resolve());
            service.kill("SIGTERM");
        });
    }

    async stop(): Promise<void> {
        await this.stopService();
        this.bus.kill("SIGTERM");
    }
}

/** RAUC's `status --output-format=json` (rauc 1.8, with --detailed). */
export interface RaucStatus {
    compatible: string;
    booted: string;
    boot_primary: string | null;
    slots: Record<string, RaucSlot>[];
}

export interface RaucSlot {
    class: string;
    bootname: string | null;
    state: string;
    boot_status: string | null;
    slot_status?: { bundle?: { compatible: string | null; version?: string } };
}
