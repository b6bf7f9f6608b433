import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { Server } from "node:https";
import { Warnings } from "./enrollment";

/**
 * Serves a renewed server certificate without a restart: cert-manager rewrites the mounted
 * Secret in place, so the files are polled (a stat every `intervalMs`; the kubelet swaps a
 * symlink, which inotify on the path would miss) and new connections get the new pair. A pair
 * that does not load is reported and the old one kept. Answers a function that stops watching.
 */
export function reloadTlsOnChange(
    server: Server,
    files: { readonly certFile: string; readonly keyFile: string },
    log: Warnings & { info(details: Record<string, unknown>, message: string): void },
    intervalMs = 60_000,
): () => void {
    const reload = () => {
        try {
            server.setSecureContext({
                cert: readFileSync(files.certFile, "utf8"),
                key: readFileSync(files.keyFile, "utf8"),
            });
            log.info({ certFile: files.certFile }, "server certificate reloaded");
        } catch (error) {
            log.warn(
                { certFile: files.certFile, error: String(error) },
                "could not load the renewed certificate",
            );
        }
    };
    const onChange = (now: { mtimeMs: number }, before: { mtimeMs: number }) => {
        if (now.mtimeMs !== before.mtimeMs) reload();
    };
    watchFile(files.certFile, { interval: intervalMs, persistent: false }, onChange);
    watchFile(files.keyFile, { interval: intervalMs, persistent: false }, onChange);
    return () => {
        unwatchFile(files.certFile, onChange);
        unwatchFile(files.keyFile, onChange);
    };
}
