/**
 * The part of TOML that Telegraf's configuration uses, as typed data rendered to text: tables of
 * plugins (`[[inputs.cpu]]`), single tables (`[agent]`), their keys, and sub-tables nested under a
 * plugin (`[[inputs.amqp_consumer.json_v2]]`). Pure; ./config.ts builds both Telegraf files with it.
 */

/** A value: a string, a number, a boolean or a list of strings. */
export type TomlValue = string | number | boolean | readonly string[];

/** One table with its keys and the tables nested under it. */
export interface TomlTable {
    /** The table's name relative to its parent (`inputs.cpu`, `json_v2`, `tag`). */
    readonly name: string;
    /** `[[name]]`, an element of an array of tables (every plugin); otherwise `[name]`. */
    readonly array: boolean;
    /** Comment lines written above the header, without the `# `. */
    readonly comment?: readonly string[];
    readonly values: Readonly<Record<string, TomlValue>>;
    /**
     * Sub-tables, written after the keys: in TOML a table's keys end at the next header, so a key
     * written after a sub-table would belong to the sub-table.
     */
    readonly tables?: readonly TomlTable[];
}

/** A TOML basic string: quotes, backslashes and control characters escaped. */
export function tomlString(text: string): string {
    const escaped = text.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => {
        const short: Record<string, string> = {
            "\\": "\\\\",
            '"': '\\"',
            "\n": "\\n",
            "\t": "\\t",
            "\r": "\\r",
        };
        return short[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    });
    return `"${escaped}"`;
}

/** A key: bare when it can be, quoted otherwise. */
function tomlKey(key: string): string {
    return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

export function tomlValue(value: TomlValue): string {
    if (typeof value === "string") return tomlString(value);
    if (typeof value === "boolean") return String(value);
    if (typeof value === "number") {
        if (!Number.isFinite(value)) throw new Error(`TOML has no number ${value}`);
        return String(value);
    }
    return `[${value.map(tomlString).join(", ")}]`;
}

function renderTable(table: TomlTable, parent: string, depth: number): string[] {
    const name = parent ? `${parent}.${table.name}` : table.name;
    const indent = "  ".repeat(depth);
    const header = table.array ? `[[${name}]]` : `[${name}]`;
    return [
        ...(table.comment ?? []).map((line) => `${indent}#${line ? ` ${line}` : ""}`),
        `${indent}${header}`,
        ...Object.entries(table.values).map(
            ([key, value]) => `${indent}  ${tomlKey(key)} = ${tomlValue(value)}`,
        ),
        ...(table.tables ?? []).flatMap((sub) => renderTable(sub, name, depth + 1)),
    ];
}

/**
 * A configuration file: the header comment, then each top-level table separated by a blank line;
 * sub-tables indented under their parent, as Telegraf's own samples are.
 */
export function renderToml(header: readonly string[], tables: readonly TomlTable[]): string {
    const head = header.map((line) => `#${line ? ` ${line}` : ""}`);
    const body = tables.map((t) => renderTable(t, "", 0).join("\n"));
    return `${[head.join("\n"), ...body].join("\n\n")}\n`;
}
