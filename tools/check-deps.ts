/**
 * Fails when node_modules holds more than one copy of @pulumi/pulumi: with two copies, resources
 * of one register with a runtime the other never started, and mocks break (pulumi/pulumi#12141).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "./stack-config";

/** Every installed copy of `pkg` under `dir`, as `path@version`. */
export function findCopies(dir: string, pkg: string): string[] {
    const found: string[] = [];
    const visit = (modules: string) => {
        if (!existsSync(modules)) return;
        const manifest = join(modules, pkg, "package.json");
        if (existsSync(manifest)) {
            found.push(
                `${join(modules, pkg)}@${(JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version}`,
            );
        }
        for (const entry of readdirSync(modules)) {
            const packages = entry.startsWith("@")
                ? readdirSync(join(modules, entry)).map((p) => join(modules, entry, p))
                : [join(modules, entry)];
            for (const p of packages) visit(join(p, "node_modules"));
        }
    };
    visit(join(dir, "node_modules"));
    return found;
}

if (require.main === module) {
    const copies = findCopies(projectRoot, "@pulumi/pulumi");
    if (copies.length !== 1) {
        console.error(
            `expected exactly one copy of @pulumi/pulumi, found ${copies.length}:\n  ${copies.join("\n  ")}`,
        );
        process.exit(1);
    }
    console.log(`one copy of @pulumi/pulumi: ${copies[0].replace(`${projectRoot}/`, "")}`);
}
