/**
 * Writes the device's Telegraf configuration into the device tree
 * (device-image/rootfs/etc/telegraf/telegraf.conf) from components/telegraf/device.ts.
 * tests/unit/telegraf-device.test.ts fails while the checked-in file differs: run `npx tsx tools/device-telegraf.ts`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { deviceTelegrafConfig, deviceTelegrafPaths } from "../components/telegraf/device";
import { projectRoot } from "./stack-config";

/** The file's path in this repository. */
export const deviceTelegrafFile = join(projectRoot, "device-image/rootfs", deviceTelegrafPaths.config);

if (require.main === module) {
    writeFileSync(deviceTelegrafFile, deviceTelegrafConfig());
    console.log(`wrote ${deviceTelegrafFile.replace(`${projectRoot}/`, "")}`);
}
