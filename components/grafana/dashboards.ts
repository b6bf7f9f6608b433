/**
 * The provisioned dashboards as data: the tenant's "Device fleet" over the devices' Telegraf
 * measurements (cpu, mem, disk, net, tagged `device`), and the provider's "Platform" over the
 * forwarded telemetry (measurement `device_telemetry`, tags `tenant` and `device`). Every panel
 * queries the InfluxDB datasource in Flux.
 */
import { datasourceUid } from "./provisioning";

const datasource = { type: "influxdb", uid: datasourceUid };

/** A panel: a Flux query drawn as a time series, a stat or a bar gauge. */
interface PanelSpec {
    readonly title: string;
    readonly type: "timeseries" | "stat" | "bargauge";
    readonly unit: string;
    readonly flux: string;
    readonly width: number;
}

/** A Grafana dashboard model (schemaVersion 39 and later read this shape). */
export interface Dashboard {
    readonly uid: string;
    readonly title: string;
    readonly panels: readonly { readonly title: string; readonly targets: readonly { query: string }[] }[];
    readonly [key: string]: unknown;
}

/** Lays the panels out in rows of 24 columns, 8 high. */
function panels(specs: readonly PanelSpec[]) {
    let x = 0;
    let y = 0;
    return specs.map((p, i) => {
        if (x + p.width > 24) {
            x = 0;
            y += 8;
        }
        const panel = {
            id: i + 1,
            title: p.title,
            type: p.type,
            datasource,
            gridPos: { x, y, w: p.width, h: 8 },
            fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
            targets: [{ refId: "A", datasource, query: p.flux }],
        };
        x += p.width;
        return panel;
    });
}

/** A multi-value tag variable listing the tag's values in the bucket. */
function tagVariable(name: string, bucket: string) {
    return {
        name,
        label: name,
        type: "query",
        datasource,
        query: `import "influxdata/influxdb/schema"\nschema.tagValues(bucket: "${bucket}", tag: "${name}")`,
        refresh: 2,
        multi: true,
        includeAll: true,
        current: { text: "All", value: "$__all" },
        sort: 1,
    };
}

function dashboard(uid: string, title: string, specs: readonly PanelSpec[], variables: unknown[]): Dashboard {
    return {
        uid,
        title,
        tags: ["cdm-platform"],
        timezone: "browser",
        refresh: "30s",
        schemaVersion: 39,
        editable: false,
        time: { from: "now-6h", to: "now" },
        templating: { list: variables },
        panels: panels(specs),
    };
}

/** The start of every query: the bucket over the dashboard's time range. */
const range = (bucket: string) =>
    `from(bucket: "${bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)`;
/** Limits rows to the devices chosen in the `device` variable. */
const chosenDevices = `  |> filter(fn: (r) => contains(value: r.device, set: \${device:json}))`;
const windowMean = `  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)`;

/** The tenant's dashboard over its devices' Telegraf metrics in `bucket`. */
export function deviceFleetDashboard(bucket: string): Dashboard {
    const perDevice = (filter: string, extra: string[] = []) =>
        [range(bucket), `  |> filter(fn: (r) => ${filter})`, chosenDevices, ...extra].join("\n");
    const cpu = `r._measurement == "cpu" and r._field == "usage_idle" and r.cpu == "cpu-total"`;
    const mem = `r._measurement == "mem" and r._field == "used_percent"`;
    const net = `r._measurement == "net" and (r._field == "bytes_recv" or r._field == "bytes_sent") and r.interface != "lo"`;
    const rate = `  |> derivative(unit: 1s, nonNegative: true)`;
    const last5m = (filter: string, extra: string[]) =>
        [
            `from(bucket: "${bucket}")`,
            `  |> range(start: -5m)`,
            `  |> filter(fn: (r) => ${filter})`,
            chosenDevices,
            ...extra,
        ].join("\n");
    const specs: PanelSpec[] = [
        {
            title: "Devices reporting (last 5 min)",
            type: "stat",
            unit: "none",
            width: 4,
            flux: last5m(cpu, [
                `  |> group(columns: ["device"])`,
                `  |> last()`,
                `  |> group()`,
                `  |> count()`,
            ]),
        },
        {
            title: "Fleet CPU use (mean)",
            type: "stat",
            unit: "percent",
            width: 5,
            flux: last5m(cpu, [
                `  |> map(fn: (r) => ({r with _value: 100.0 - r._value}))`,
                `  |> group()`,
                `  |> mean()`,
            ]),
        },
        {
            title: "Fleet memory use (mean)",
            type: "stat",
            unit: "percent",
            width: 5,
            flux: last5m(mem, [`  |> group()`, `  |> mean()`]),
        },
        {
            // The fullest mount of any device: the one to act on first.
            title: "Fleet disk use (fullest mount)",
            type: "stat",
            unit: "percent",
            width: 5,
            flux: last5m(`r._measurement == "disk" and r._field == "used_percent"`, [
                `  |> group(columns: ["device", "path"])`,
                `  |> last()`,
                `  |> group()`,
                `  |> max()`,
            ]),
        },
        {
            title: "Fleet network throughput",
            type: "stat",
            unit: "Bps",
            width: 5,
            flux: last5m(net, [
                rate,
                `  |> group(columns: ["device", "interface", "_field"])`,
                `  |> last()`,
                `  |> group()`,
                `  |> sum()`,
            ]),
        },
        {
            title: "CPU use per device",
            type: "timeseries",
            unit: "percent",
            width: 12,
            flux: perDevice(cpu, [
                `  |> map(fn: (r) => ({r with _value: 100.0 - r._value}))`,
                windowMean,
                `  |> keep(columns: ["_time", "_value", "device"])`,
            ]),
        },
        {
            title: "Memory use per device",
            type: "timeseries",
            unit: "percent",
            width: 12,
            flux: perDevice(mem, [windowMean, `  |> keep(columns: ["_time", "_value", "device"])`]),
        },
        {
            title: "Disk use per device and mount",
            type: "timeseries",
            unit: "percent",
            width: 12,
            flux: perDevice(`r._measurement == "disk" and r._field == "used_percent"`, [
                windowMean,
                `  |> keep(columns: ["_time", "_value", "device", "path"])`,
            ]),
        },
        {
            title: "Network throughput per device",
            type: "timeseries",
            unit: "Bps",
            width: 12,
            flux: perDevice(net, [
                rate,
                windowMean,
                `  |> keep(columns: ["_time", "_value", "device", "interface", "_field"])`,
            ]),
        },
    ];
    return dashboard("cdm-device-fleet", "Device fleet", specs, [tagVariable("device", bucket)]);
}

/** The provider's dashboard over the tenants' forwarded telemetry in `bucket`. */
export function platformDashboard(bucket: string, measurement: string): Dashboard {
    const base = (start: string) =>
        [
            `from(bucket: "${bucket}")`,
            `  |> range(${start})`,
            `  |> filter(fn: (r) => r._measurement == "${measurement}")`,
            `  |> filter(fn: (r) => contains(value: r.tenant, set: \${tenant:json}))`,
            // One message is one point with several fields: count distinct device timestamps.
            `  |> keep(columns: ["_time", "tenant", "device"])`,
            `  |> group(columns: ["tenant", "device"])`,
        ].join("\n");
    const messages = (by: string) =>
        [
            base("start: v.timeRangeStart, stop: v.timeRangeStop"),
            `  |> unique(column: "_time")`,
            `  |> map(fn: (r) => ({r with _value: 1.0}))`,
            `  |> group(columns: [${by}])`,
            `  |> sort(columns: ["_time"])`,
            `  |> aggregateWindow(every: 1m, fn: sum, createEmpty: false)`,
            `  |> map(fn: (r) => ({r with _value: r._value / 60.0}))`,
        ].join("\n");
    const devices = (by: string) =>
        [
            base("start: -15m"),
            `  |> last(column: "_time")`,
            `  |> group(columns: [${by}])`,
            `  |> count(column: "device")`,
        ].join("\n");
    const specs: PanelSpec[] = [
        { title: "Devices reporting (last 15 min)", type: "stat", unit: "none", width: 8, flux: devices("") },
        {
            title: "Devices reporting per tenant (last 15 min)",
            type: "bargauge",
            unit: "none",
            width: 16,
            flux: devices(`"tenant"`),
        },
        {
            title: "Messages per second, all tenants",
            type: "timeseries",
            unit: "reqps",
            width: 24,
            flux: messages(""),
        },
        {
            title: "Messages per second per tenant",
            type: "timeseries",
            unit: "reqps",
            width: 24,
            flux: messages(`"tenant"`),
        },
    ];
    return dashboard("cdm-platform", "Platform", specs, [tagVariable("tenant", bucket)]);
}

/** A dashboard as the file Grafana's provider reads. */
export function dashboardJson(d: Dashboard): string {
    return `${JSON.stringify(d, null, 2)}\n`;
}
