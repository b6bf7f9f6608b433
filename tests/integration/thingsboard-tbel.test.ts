/**
 * The rule chain's scripts run by ThingsBoard's own expression language (org.thingsboard:tbel
 * from Maven Central, the engine tb-node embeds, in its sandboxed mode; scripts/peers/tbel.sh):
 * the forwarded message is, byte for byte, what `forwardedMessage()` promises the provider's
 * Telegraf and the benchmark; the filter and the connect webhook's body behave as designed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
    connectTransformScript,
    connectWebhookBody,
    forwardedMessage,
    forwardFilterScript,
    forwardTransformScript,
    MetricValue,
} from "../../components/thingsboard/rule-chain";
import { projectRoot } from "../../tools/stack-config";

let classPath: string;
const dir = mkdtempSync(join(tmpdir(), "tbel-"));

beforeAll(() => {
    classPath = execFileSync(join(projectRoot, "scripts/peers/tbel.sh"), ["install"], {
        encoding: "utf8",
    }).trim();
});

/** Runs `script` as a rule node would for a message; answers the parsed result. */
function tbel(
    script: string,
    msgType: string,
    msg: Record<string, MetricValue>,
    metadata: Record<string, string>,
) {
    const file = join(dir, `script-${Math.random().toString(36).slice(2)}.tbel`);
    writeFileSync(file, script);
    const args = [
        ...Object.entries(msg).map(
            ([k, v]) => `msg.${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`,
        ),
        ...Object.entries(metadata).map(([k, v]) => `metadata.${k}=${v}`),
    ];
    const out = execFileSync("java", ["-cp", classPath, "TbelRun", file, msgType, ...args], {
        encoding: "utf8",
    });
    return { value: JSON.parse(out) };
}

const metadata = { deviceName: "dev-1", deviceType: "default", ts: "1767225600000" };
const metrics = ["cpu_usage", "mem_free_mb"];

describe("the rule chain's TBEL scripts", () => {
    it("forward exactly the platform's message shape, in the mirror's field order", () => {
        for (const msg of <Record<string, MetricValue>[]>[
            { cpu_usage: 23.4, mem_free_mb: 512, sw_version: "1.0.0", rauc_slot: "B" },
            { mem_free_mb: 128, ota_status: "idle" },
        ]) {
            const { value } = tbel(
                forwardTransformScript("acme", metrics),
                "POST_TELEMETRY_REQUEST",
                msg,
                metadata,
            );
            const expected = forwardedMessage("acme", "dev-1", 1767225600000, msg, metrics);
            // Compared as text: the same fields, values and order as the mirror.
            expect(JSON.stringify(value.msg)).toBe(JSON.stringify(expected));
            expect(value.msgType).toBe("POST_TELEMETRY_REQUEST");
        }
    });

    it("let through only telemetry carrying a forwarded metric", () => {
        const filter = forwardFilterScript(metrics);
        expect(tbel(filter, "POST_TELEMETRY_REQUEST", { cpu_usage: 1 }, metadata).value).toBe(true);
        expect(tbel(filter, "POST_TELEMETRY_REQUEST", { sw_version: "1.0.0" }, metadata).value).toBe(false);
    });

    it("turn a connect event into the bridge webhook's body", () => {
        expect(tbel(connectTransformScript, "CONNECT_EVENT", {}, metadata).value.msg).toEqual(
            connectWebhookBody("dev-1"),
        );
    });
});
