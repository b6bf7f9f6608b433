/**
 * Session recordings in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a header
 * line, then one JSON array per event, `[seconds, "o" | "i" | "r", data]`, written as the session
 * runs. Files are readable by the proxy's user only: a terminal shows whatever the device shows.
 */
import { createWriteStream, WriteStream } from "node:fs";
import { join } from "node:path";

/** What the recording's header says about the session. */
export interface RecordingHeader {
    readonly sessionId: string;
    readonly user: string;
    readonly deviceId: string;
    readonly columns: number;
    readonly rows: number;
}

/** Unwritten recording data above which a recording stops rather than grow without bound. */
const maxBuffered = 8 * 1024 * 1024;

export class SessionRecorder {
    private readonly out: WriteStream;
    private readonly startedAt = process.hrtime.bigint();
    /** Where the recording is written. */
    readonly path: string;
    /** Why the recording stopped before the session did (a full or missing disk, a slow one). */
    failure?: string;

    constructor(
        dir: string,
        header: RecordingHeader,
        private readonly onFailure: (reason: string) => void = () => undefined,
    ) {
        this.path = join(dir, `${header.sessionId}.cast`);
        this.out = createWriteStream(this.path, { flags: "wx", mode: 0o600 });
        this.out.on("error", (error: NodeJS.ErrnoException) =>
            this.fail(`cannot write: ${error.code ?? error.message}`),
        );
        this.line({
            version: 2,
            width: header.columns,
            height: header.rows,
            timestamp: Math.floor(Date.now() / 1000),
            title: `${header.user} on ${header.deviceId}`,
            env: { TERM: "xterm-256color" },
        });
    }

    /** Terminal output (`o`), keyboard input (`i`) or a resize (`r`, `COLSxROWS`). */
    event(kind: "o" | "i" | "r", data: string): void {
        const seconds = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
        this.line([Math.round(seconds * 1e6) / 1e6, kind, data]);
    }

    /** Flushes and closes the file. */
    close(): Promise<void> {
        return new Promise((resolve) => this.out.end(resolve));
    }

    private line(value: unknown): void {
        if (this.failure) return;
        this.out.write(`${JSON.stringify(value)}\n`);
        if (this.out.writableLength > maxBuffered)
            this.fail("the disk does not keep up; recording truncated");
    }

    private fail(reason: string): void {
        if (this.failure) return;
        this.failure = reason;
        this.onFailure(reason);
    }
}
