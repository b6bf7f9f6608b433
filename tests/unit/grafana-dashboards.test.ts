/**
 * The provisioned dashboards, structurally: every panel queries the InfluxDB datasource in Flux,
 * on the stack's bucket and the right measurements, filtered by the dashboard's variable; the
 * layout fits Grafana's 24-column grid without overlaps.
 */
import { describe, expect, it } from "vitest";
import {
    Dashboard,
    dashboardJson,
    deviceFleetDashboard,
    platformDashboard,
} from "../../components/grafana/dashboards";

type Panel = {
    id: number;
    title: string;
    type: string;
    datasource: { type: string; uid: string };
    gridPos: { x: number; y: number; w: number; h: number };
    targets: { refId: string; datasource: unknown; query: string }[];
};

const panelsOf = (d: Dashboard) => d.panels as unknown as Panel[];
const datasource = { type: "influxdb", uid: "influxdb" };

function checkLayout(d: Dashboard): void {
    const cells = new Set<string>();
    for (const p of panelsOf(d)) {
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
            for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
                expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
                cells.add(`${x},${y}`);
            }
        }
    }
}

describe("Device fleet dashboard", () => {
    const d = deviceFleetDashboard("devices");
    const panels = panelsOf(d);

    it("has fleet totals and per-device CPU, memory, disk and network panels", () => {
        expect(d.uid).toBe("cdm-device-fleet");
        expect(d.title).toBe("Device fleet");
        expect(panels.map((p) => [p.id, p.type, p.title])).toEqual([
            [1, "stat", "Devices reporting (last 5 min)"],
            [2, "stat", "Fleet CPU use (mean)"],
            [3, "stat", "Fleet memory use (mean)"],
            [4, "stat", "Fleet disk use (fullest mount)"],
            [5, "stat", "Fleet network throughput"],
            [6, "timeseries", "CPU use per device"],
            [7, "timeseries", "Memory use per device"],
            [8, "timeseries", "Disk use per device and mount"],
            [9, "timeseries", "Network throughput per device"],
        ]);
        checkLayout(d);
    });

    it("queries the devices bucket in Flux on the Telegraf measurement of each panel, for the chosen devices", () => {
        const measurement: Record<string, string> = {
            "Devices reporting (last 5 min)": "cpu",
            "Fleet CPU use (mean)": "cpu",
            "Fleet memory use (mean)": "mem",
            "Fleet disk use (fullest mount)": "disk",
            "Fleet network throughput": "net",
            "CPU use per device": "cpu",
            "Memory use per device": "mem",
            "Disk use per device and mount": "disk",
            "Network throughput per device": "net",
        };
        for (const p of panels) {
            expect(p.datasource, p.title).toEqual(datasource);
            expect(p.targets, p.title).toHaveLength(1);
            const [target] = p.targets;
            expect(target.datasource, p.title).toEqual(datasource);
            expect(target.query.startsWith(`from(bucket: "devices")\n  |> range(`), p.title).toBe(true);
            expect(target.query, p.title).toContain(`r._measurement == "${measurement[p.title]}"`);
            expect(target.query, p.title).toContain(
                "|> filter(fn: (r) => contains(value: r.device, set: ${device:json}))",
            );
        }
    });

    it("draws CPU use as 100 minus idle on the total, network as non-negative byte rates", () => {
        const cpu = panels.find((p) => p.title === "CPU use per device")!.targets[0].query;
        expect(cpu.split("\n")).toEqual([
            `from(bucket: "devices")`,
            `  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)`,
            `  |> filter(fn: (r) => r._measurement == "cpu" and r._field == "usage_idle" and r.cpu == "cpu-total")`,
            "  |> filter(fn: (r) => contains(value: r.device, set: ${device:json}))",
            `  |> map(fn: (r) => ({r with _value: 100.0 - r._value}))`,
            `  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)`,
            `  |> keep(columns: ["_time", "_value", "device"])`,
        ]);
        const net = panels.find((p) => p.title === "Network throughput per device")!.targets[0].query;
        expect(net).toContain(`r.interface != "lo"`);
        expect(net).toContain(`|> derivative(unit: 1s, nonNegative: true)`);
    });

    it("offers a multi-value device variable listing the bucket's device tags", () => {
        expect((d.templating as { list: unknown[] }).list).toEqual([
            {
                name: "device",
                label: "device",
                type: "query",
                datasource,
                query: `import "influxdata/influxdb/schema"\nschema.tagValues(bucket: "devices", tag: "device")`,
                refresh: 2,
                multi: true,
                includeAll: true,
                current: { text: "All", value: "$__all" },
                sort: 1,
            },
        ]);
    });
});

describe("Platform dashboard", () => {
    const d = platformDashboard("telemetry", "device_telemetry");
    const panels = panelsOf(d);

    it("shows devices and message rates, overall and per tenant", () => {
        expect(d.uid).toBe("cdm-platform");
        expect(panels.map((p) => [p.type, p.title])).toEqual([
            ["stat", "Devices reporting (last 15 min)"],
            ["bargauge", "Devices reporting per tenant (last 15 min)"],
            ["timeseries", "Messages per second, all tenants"],
            ["timeseries", "Messages per second per tenant"],
        ]);
        checkLayout(d);
    });

    it("queries the telemetry bucket's device_telemetry measurement for the chosen tenants", () => {
        for (const p of panels) {
            const [target] = p.targets;
            expect(target.query.startsWith(`from(bucket: "telemetry")`), p.title).toBe(true);
            expect(target.query, p.title).toContain(`r._measurement == "device_telemetry"`);
            expect(target.query, p.title).toContain("contains(value: r.tenant, set: ${tenant:json})");
        }
        const perTenant = panels.find((p) => p.title === "Messages per second per tenant")!.targets[0].query;
        expect(perTenant.split("\n").slice(4)).toEqual([
            `  |> keep(columns: ["_time", "tenant", "device"])`,
            `  |> group(columns: ["tenant", "device"])`,
            `  |> unique(column: "_time")`,
            `  |> map(fn: (r) => ({r with _value: 1.0}))`,
            `  |> group(columns: ["tenant"])`,
            `  |> sort(columns: ["_time"])`,
            `  |> aggregateWindow(every: 1m, fn: sum, createEmpty: false)`,
            `  |> map(fn: (r) => ({r with _value: r._value / 60.0}))`,
        ]);
    });

    it("renders as JSON that reads back to the same model", () => {
        expect(JSON.parse(dashboardJson(d))).toEqual(d);
        expect(dashboardJson(d).endsWith("}\n")).toBe(true);
    });
});
