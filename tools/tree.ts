/**
 * Prints an evaluation as a readable tree (component → resources) with counts per type.
 */
import { RecordedResource } from "./mock-engine";

/** Resource counts per type, most frequent first, then by name. */
export function countByType(resources: readonly RecordedResource[]): [string, number][] {
    const counts = new Map<string, number>();
    for (const r of resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The resource tree as text lines, children sorted by type then name. */
export function formatTree(resources: readonly RecordedResource[]): string[] {
    const children = new Map<string | undefined, RecordedResource[]>();
    for (const r of resources) {
        const siblings = children.get(r.parent) ?? [];
        siblings.push(r);
        children.set(r.parent, siblings);
    }
    const lines: string[] = [];
    const visit = (parent: string | undefined, prefix: string) => {
        const list = (children.get(parent) ?? []).sort(
            (a, b) =>
                Number(a.custom) - Number(b.custom) ||
                a.type.localeCompare(b.type) ||
                a.name.localeCompare(b.name),
        );
        list.forEach((r, i) => {
            const last = i === list.length - 1;
            const branch = parent === undefined ? "" : last ? "└── " : "├── ";
            const kids = children.get(r.urn)?.length ?? 0;
            const label = r.custom ? r.type : `${r.type} (${countDescendants(children, r.urn)} resources)`;
            lines.push(`${prefix}${branch}${r.name}  ${label}`);
            if (kids > 0) visit(r.urn, parent === undefined ? prefix : prefix + (last ? "    " : "│   "));
        });
    };
    visit(undefined, "");
    return lines;
}

function countDescendants(children: Map<string | undefined, RecordedResource[]>, urn: string): number {
    return (children.get(urn) ?? []).reduce((n, c) => n + 1 + countDescendants(children, c.urn), 0);
}
