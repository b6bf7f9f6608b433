import { describe, expect, it } from "vitest";
import { OptionsError, parseOptions } from "../../../tools/fleet-simulator/options";

const token = "cdm_et_0123456789abcdef";
const base = ["--bridge", "https://bridge.acme.example.com", "--devices", "20"];

function problems(argv: string[], env: Record<string, string> = { CDM_ENROLLMENT_TOKEN: token }): string[] {
    try {
        parseOptions(argv, env, (path) => {
            if (path === "/root.pem") return "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
            if (path === "/token") return `${token}\n`;
            throw Object.assign(new Error("no"), { code: "ENOENT" });
        });
    } catch (error) {
        if (error instanceof OptionsError) return [...error.problems];
        throw error;
    }
    return [];
}

describe("the simulator's options", () => {
    it("has defaults for everything but the bridge, the token and the fleet size", () => {
        const o = parseOptions([...base, "--token", token, "--prefix", "load"], {});
        expect(o).toEqual({
            bridgeUrl: "https://bridge.acme.example.com",
            token,
            rootCaPem: undefined,
            devices: 20,
            rate: 1 / 60,
            durationSeconds: 60,
            concurrency: 8,
            prefix: "load",
            mqttUrl: undefined,
            hawkbitUrl: undefined,
            mqtt: true,
            poll: true,
            jsonFile: undefined,
        });
    });

    it("takes every flag, the token from a file, and turns telemetry off at rate 0", () => {
        const o = parseOptions(
            [
                ...["--bridge", "http://127.0.0.1:8443/", "--devices", "5", "--token-file", "/token"],
                ...["--rate", "0", "--duration", "2.5", "--concurrency", "16", "--ca", "/root.pem"],
                ...["--mqtt-url", "mqtts://localhost:8883", "--hawkbit-url", "http://127.0.0.1:8080"],
                ...["--no-poll", "--json", "out.json"],
            ],
            {},
            (path) => (path === "/token" ? `${token}\n` : "-----BEGIN CERTIFICATE-----\n"),
        );
        expect(o).toMatchObject({
            bridgeUrl: "http://127.0.0.1:8443",
            token,
            devices: 5,
            rate: 0,
            durationSeconds: 2.5,
            concurrency: 16,
            mqttUrl: "mqtts://localhost:8883",
            hawkbitUrl: "http://127.0.0.1:8080",
            mqtt: false,
            poll: false,
            jsonFile: "out.json",
        });
        expect(o.prefix).toMatch(/^sim-[0-9a-f]{6}$/);
    });

    it("names every bad flag at once", () => {
        expect(
            problems([
                ...["--bridge", "ftp://x", "--devices", "0", "--rate", "-1", "--duration", "soon"],
                ...["--concurrency", "2.5", "--prefix", "Bad_Prefix", "--mqtt-url", "mqtt://plain:1883"],
                ...["--ca", "/missing.pem", "--frobnicate"],
            ]),
        ).toEqual([
            "unknown argument '--frobnicate'",
            "--bridge takes a https or http URL, not 'ftp://x'",
            "--ca: cannot read /missing.pem (ENOENT)",
            "--devices takes a whole number from 1 to 100000, not '0'",
            "--rate takes a number from 0 to 1000, not '-1'",
            "--duration takes a number from 0 to 604800, not 'soon'",
            "--concurrency takes a whole number from 1 to 256, not '2.5'",
            "--prefix takes lower-case letters, digits and '-' (1-42, no '-' at the ends), not 'Bad_Prefix'",
            "--mqtt-url takes a mqtts URL, not 'mqtt://plain:1883'",
        ]);
    });

    it("requires the bridge, the fleet size and exactly one token, and never echoes a token", () => {
        expect(problems([], {})).toEqual([
            "--bridge is required",
            "--token (or --token-file, or CDM_ENROLLMENT_TOKEN) is required",
            "--devices is required",
        ]);
        expect(problems([...base, "--token", token])).toEqual([
            "give the token once: --token, --token-file or CDM_ENROLLMENT_TOKEN",
        ]);
        const bad = problems([...base], { CDM_ENROLLMENT_TOKEN: "secret with spaces" });
        expect(bad).toEqual([
            "--token: the enrollment token must be 8-1024 printable characters without spaces",
        ]);
        expect(bad.join()).not.toContain("secret");
    });

    it("refuses a missing value, a repeated flag and a CA file without a certificate", () => {
        expect(problems([...base, "--rate", "--no-poll"])).toEqual(["--rate needs a value"]);
        expect(problems([...base, "--devices", "3"])).toEqual(["--devices is given twice"]);
        expect(problems([...base, "--ca", "/token"])).toEqual(["--ca: /token holds no PEM certificate"]);
    });
});
