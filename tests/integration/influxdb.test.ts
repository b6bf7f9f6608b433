/**
 * InfluxDB 2.9.1 (influxd built by scripts/peers/influxdb.sh) set up through its setup API with
 * the values of the environment the component renders (what the image's entrypoint hands to
 * `influx setup`); then the scoped tokens the token Job asks for, with exactly the permission
 * `influx auth create --write-bucket/--read-bucket <id>` sends; then every dashboard panel's
 * Flux query, as Grafana runs it, on points in the shape the device and provider Telegraf write.
 *
 * Not run here: the token script itself. It drives the influx CLI, which the deployed image
 * ships but the Go module proxy does not serve (github.com/influxdata/influx-cli/v2: 403); its
 * text is checked by the unit tests and by shellcheck below.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceFleetDashboard, platformDashboard } from "../../components/grafana/dashboards";
import {
    adminUser,
    influxdbEnv,
    TokenGrant,
    tenantInfluxSetup,
    tokenScript,
} from "../../components/influxdb/settings";
import { projectRoot } from "../../tools/stack-config";

const port = Number(process.env.CDM_TEST_INFLUX_PORT ?? 58086);
const url = `http://127.0.0.1:${port}`;
const adminToken = "test-admin-token-".padEnd(64, "x");
const setup = tenantInfluxSetup("acme", "30d");
/** A point of now, inside the bucket's retention. */
const point = (line: string) => `${line} ${Math.floor(Date.now() / 1000)}`;
/** Seconds in an InfluxDB duration of whole hours, days or weeks (what `influx setup` sends). */
const seconds = (d: string) => Number(d.slice(0, -1)) * { h: 3600, d: 86400, w: 604800 }[d.slice(-1) as "h"];

let dir: string;
let influxd: ChildProcess;

async function api(path: string, token: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${url}${path}`, {
        ...init,
        headers: { Authorization: `Token ${token}`, ...(init.headers as Record<string, string>) },
    });
}

/** A JSON request's answer. */
const json = async (path: string, token: string, body?: unknown): Promise<any> =>
    (
        await api(path, token, {
            method: body === undefined ? "GET" : "POST",
            headers: { "Content-Type": "application/json" },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
    ).json();

const write = (bucket: string, token: string, lines: string[]) =>
    api(`/api/v2/write?org=acme&bucket=${bucket}&precision=s`, token, {
        method: "POST",
        body: lines.join("\n"),
    });

const query = (flux: string, token: string) =>
    api("/api/v2/query?org=acme", token, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/csv" },
        body: JSON.stringify({ query: flux, dialect: { annotations: [] } }),
    });

/** The authorization `influx auth create --<action>-bucket <id> --description <d>` makes. */
async function grant(g: TokenGrant): Promise<string> {
    const [bucket] = (await json(`/api/v2/buckets?name=${g.bucket}`, adminToken)).buckets;
    const auth = await json("/api/v2/authorizations", adminToken, {
        orgID: bucket.orgID,
        description: g.description,
        permissions: [
            { action: g.action, resource: { type: "buckets", id: bucket.id, orgID: bucket.orgID } },
        ],
    });
    return auth.token;
}

beforeAll(async () => {
    const bin = execFileSync(join(projectRoot, "scripts/peers/influxdb.sh"), ["install"], {
        encoding: "utf8",
    }).trim();
    dir = mkdtempSync(join(tmpdir(), "influxdb-"));
    influxd = spawn(
        join(bin, "influxd"),
        [
            `--bolt-path=${dir}/influxd.bolt`,
            `--engine-path=${dir}/engine`,
            `--http-bind-address=127.0.0.1:${port}`,
            "--reporting-disabled",
            "--log-level=error",
        ],
        { stdio: "ignore" },
    );
    for (let i = 0; ; i++) {
        const ok = await fetch(`${url}/health`).then(
            (r) => r.ok,
            () => false,
        );
        if (ok) break;
        if (i > 150) throw new Error("influxd did not become healthy");
        await new Promise((r) => setTimeout(r, 200));
    }
    // What the entrypoint's `influx setup` sends, from the environment the component renders.
    const env = influxdbEnv(setup) as Record<string, string>;
    const res = await fetch(`${url}/api/v2/setup`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
            username: env.DOCKER_INFLUXDB_INIT_USERNAME,
            password: "test-admin-password",
            org: env.DOCKER_INFLUXDB_INIT_ORG,
            bucket: env.DOCKER_INFLUXDB_INIT_BUCKET,
            retentionPeriodSeconds: seconds(env.DOCKER_INFLUXDB_INIT_RETENTION),
            token: adminToken,
        }),
    });
    expect(res.status).toBe(201);
    // The first run on a machine builds influxd (about six minutes on two cores).
}, 900_000);

afterAll(() => {
    influxd?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("InfluxDB setup", () => {
    it("has the tenant's organisation, the admin user and the devices bucket with the configured retention", async () => {
        const [bucket] = (await json("/api/v2/buckets?name=devices", adminToken)).buckets;
        expect(bucket.retentionRules).toEqual([
            expect.objectContaining({ type: "expire", everySeconds: 2592000 }),
        ]);
        expect((await json("/api/v2/orgs", adminToken)).orgs.map((o: { name: string }) => o.name)).toEqual([
            "acme",
        ]);
        expect((await json("/api/v2/users", adminToken)).users.map((u: { name: string }) => u.name)).toEqual([
            adminUser,
        ]);
    });
});

describe("scoped tokens", () => {
    let device: string;
    let grafana: string;

    beforeAll(async () => {
        const [deviceGrant, grafanaGrant] = setup.tokens;
        device = await grant(deviceGrant);
        grafana = await grant(grafanaGrant);
        await json("/api/v2/buckets", adminToken, {
            name: "other",
            orgID: (await json("/api/v2/orgs?org=acme", adminToken)).orgs[0].id,
        });
    });

    it("token script passes shellcheck", () => {
        const file = join(dir, "tokens.sh");
        writeFileSync(file, tokenScript(setup));
        expect(execFileSync("shellcheck", ["--shell=bash", file], { encoding: "utf8" })).toBe("");
    });

    it("lets devices write to the devices bucket only, and read nothing", async () => {
        expect((await write("devices", device, [point("cpu,device=dev-1 usage_idle=90")])).status).toBe(204);
        expect((await write("other", device, [point("cpu,device=dev-1 usage_idle=90")])).status).not.toBe(
            204,
        );
        expect((await query(`from(bucket: "devices") |> range(start: 0)`, device)).status).not.toBe(200);
        expect((await json("/api/v2/buckets", device)).buckets).toEqual([]);
    });

    it("lets Grafana read the devices bucket only, and write nothing", async () => {
        const res = await query(`from(bucket: "devices") |> range(start: 0) |> count()`, grafana);
        expect(res.status).toBe(200);
        expect(await res.text()).toContain(",1,");
        expect((await query(`from(bucket: "other") |> range(start: 0)`, grafana)).status).not.toBe(200);
        expect((await write("devices", grafana, [point("cpu,device=dev-1 usage_idle=90")])).status).not.toBe(
            204,
        );
    });

    it("answers the token script's check with 200 for a live token and 401 once it is deleted", async () => {
        const check = (token: string) => api("/api/v2/buckets?limit=1", token).then((r) => r.status);
        const spare = await grant(setup.tokens[1]);
        expect([await check(device), await check(grafana), await check(spare)]).toEqual([200, 200, 200]);
        // Why the script tries the token: 2.9 lists authorizations without their tokens.
        const auths = (await json("/api/v2/authorizations", adminToken)).authorizations as {
            id: string;
            token: string;
            description: string;
        }[];
        expect(new Set(auths.map((a) => a.token))).toEqual(new Set([""]));
        // The script's cleanup: delete the grant's other authorizations by id.
        const ids = auths.filter((a) => a.description === "cdm-grafana-read").map((a) => a.id);
        expect(ids).toHaveLength(2);
        expect((await api(`/api/v2/authorizations/${ids[1]}`, adminToken, { method: "DELETE" })).status).toBe(
            204,
        );
        const live = [await check(grafana), await check(spare)].sort();
        expect(live).toEqual([200, 401]);
        if ((await check(grafana)) === 401) grafana = spare;
        expect(await check("not-a-token")).toBe(401);
    });

    describe("dashboards, on the Grafana token", () => {
        /** What Grafana sets before a panel's query: the range, the window, the variable. */
        const asGrafana = (flux: string, variable: string, values: string[]) =>
            `option v = {timeRangeStart: -1h, timeRangeStop: now(), windowPeriod: 10s}\n` +
            flux.replace(`\${${variable}:json}`, JSON.stringify(values));
        const rows = (csv: string) =>
            csv
                .trim()
                .split("\n")
                .filter((l) => l.trim() !== "")
                .map((l) => l.trim().split(","));

        it("answers every Device fleet panel from Telegraf's cpu, mem, disk and net points", async () => {
            const now = Math.floor(Date.now() / 1000);
            const lines: string[] = [];
            for (const [i, dev] of ["dev-1", "dev-2"].entries()) {
                for (let t = now - 120; t <= now; t += 10) {
                    const k = (t - now + 120) / 10;
                    lines.push(
                        `cpu,device=${dev},host=${dev},cpu=cpu-total usage_idle=${70 + i * 10},usage_user=5 ${t}`,
                        `mem,device=${dev},host=${dev} used_percent=${40 + i},available=1000i ${t}`,
                        `disk,device=${dev},host=${dev},path=/,fstype=ext4 used_percent=${20 + i} ${t}`,
                        `net,device=${dev},host=${dev},interface=eth0 bytes_recv=${1000 * k}i,bytes_sent=${500 * k}i ${t}`,
                        `net,device=${dev},host=${dev},interface=lo bytes_recv=${9e6 * k}i,bytes_sent=${9e6 * k}i ${t}`,
                    );
                }
            }
            expect((await write("devices", device, lines)).status).toBe(204);
            const results: Record<string, string[][]> = {};
            for (const panel of deviceFleetDashboard("devices").panels) {
                const res = await query(
                    asGrafana(panel.targets[0].query, "device", ["dev-1", "dev-2"]),
                    grafana,
                );
                const text = await res.text();
                expect(res.status, `${panel.title}: ${text}`).toBe(200);
                results[panel.title] = rows(text);
                expect(results[panel.title].length, panel.title).toBeGreaterThan(1);
            }
            const value = (title: string) => {
                const [header, row] = results[title];
                return Number(row[header.indexOf("_value")]);
            };
            expect(value("Devices reporting (last 5 min)")).toBe(2);
            expect(value("Fleet CPU use (mean)")).toBe(25);
            expect(value("Fleet memory use (mean)")).toBe(40.5);
            expect(value("Fleet disk use (fullest mount)")).toBe(21);
            // eth0 only (lo is left out): 100 + 50 bytes/s per device.
            expect(value("Fleet network throughput")).toBe(300);
            const only = rows(
                await (
                    await query(
                        asGrafana(deviceFleetDashboard("devices").panels[0].targets[0].query, "device", [
                            "dev-2",
                        ]),
                        grafana,
                    )
                ).text(),
            );
            expect(Number(only[1][only[0].indexOf("_value")])).toBe(1);
        });

        it("answers every Platform panel from the provider Telegraf's device_telemetry points", async () => {
            await json("/api/v2/buckets", adminToken, {
                name: "telemetry",
                orgID: (await json("/api/v2/orgs?org=acme", adminToken)).orgs[0].id,
            });
            const start = Math.floor(Date.now() / 60000) * 60 - 120;
            const lines: string[] = [];
            // acme: two devices, 6 messages each within one minute; globex: one device, 3.
            for (const [tenant, device, count] of [
                ["acme", "dev-1", 6],
                ["acme", "dev-2", 6],
                ["globex", "gw-1", 3],
            ] as const) {
                for (let n = 0; n < count; n++) {
                    lines.push(
                        `device_telemetry,tenant=${tenant},device=${device} temperature=21.5,battery=${90 - n}i ${start + n * 5}`,
                    );
                }
            }
            expect((await write("telemetry", adminToken, lines)).status).toBe(204);
            const dashboard = platformDashboard("telemetry", "device_telemetry");
            const results: Record<string, string[][]> = {};
            for (const panel of dashboard.panels) {
                const flux = asGrafana(panel.targets[0].query, "tenant", ["acme", "globex"]).replace(
                    "range(start: -15m)",
                    "range(start: -1h)",
                );
                const res = await query(flux, adminToken);
                const text = await res.text();
                expect(res.status, `${panel.title}: ${text}`).toBe(200);
                results[panel.title] = rows(text);
            }
            const column = (title: string, name: string) => {
                const [header, ...data] = results[title];
                return data.map((r) => r[header.indexOf(name)]);
            };
            expect(column("Devices reporting (last 15 min)", "device")).toEqual(["3"]);
            expect(
                Object.fromEntries(
                    results["Devices reporting per tenant (last 15 min)"]
                        .slice(1)
                        .map((r) => [
                            r[results["Devices reporting per tenant (last 15 min)"][0].indexOf("tenant")],
                            r[results["Devices reporting per tenant (last 15 min)"][0].indexOf("device")],
                        ]),
                ),
            ).toEqual({ acme: "2", globex: "1" });
            // 15 messages in one minute: a quarter of a message per second.
            expect(column("Messages per second, all tenants", "_value").map(Number)).toEqual([0.25]);
            expect(column("Messages per second per tenant", "_value").map(Number).sort()).toEqual([
                0.05, 0.2,
            ]);
        });
    });
});
