/**
 * The bridge's one SQL dialect, PostgreSQL, behind a small interface with two engines: a real
 * server through `pg` (production, integration tests) and PGlite, PostgreSQL compiled to
 * WebAssembly, embedded (`npm run dev`, unit tests). Same SQL, same migrations.
 */
import type { PGlite, Transaction } from "@electric-sql/pglite";
import type { Pool, PoolClient } from "pg";

/** Something that runs SQL: the database, or one transaction of it. */
export interface Queryable {
    /** One statement, with `$n` parameters. */
    query<T extends Record<string, unknown> = Record<string, unknown>>(
        sql: string,
        params?: readonly unknown[],
    ): Promise<{ rows: T[] }>;
    /** A script of several statements, without parameters (migrations). */
    execute(script: string): Promise<void>;
}

export interface Database extends Queryable {
    /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
    close(): Promise<void>;
}

function pgQueryable(client: Pool | PoolClient): Queryable {
    return {
        query: async (sql, params) => (await client.query(sql, params as unknown[])) as never,
        execute: async (script) => void (await client.query(script)),
    };
}

function pgliteQueryable(client: PGlite | Transaction): Queryable {
    return {
        query: async (sql, params) => (await client.query(sql, params as unknown[])) as never,
        execute: async (script) => void (await client.exec(script)),
    };
}

/** A Database over a `pg` pool (one connection per transaction). */
export function pgDatabase(pool: Pool): Database {
    return {
        ...pgQueryable(pool),
        async transaction(fn) {
            const client = await pool.connect();
            // A connection that breaks while checked out (server restart, failover) must not
            // crash the process: the pending query fails, and the connection is discarded.
            let broken: Error | undefined;
            const onError = (error: Error) => (broken = error);
            client.on("error", onError);
            try {
                await client.query("BEGIN");
                const result = await fn(pgQueryable(client));
                await client.query("COMMIT");
                return result;
            } catch (error) {
                await client.query("ROLLBACK").catch((e: Error) => (broken ??= e));
                throw error;
            } finally {
                client.off("error", onError);
                client.release(broken);
            }
        },
        close: () => pool.end(),
    };
}

/** A Database over an embedded PGlite instance (one connection; transactions run one at a time). */
export function pgliteDatabase(pglite: PGlite): Database {
    return {
        ...pgliteQueryable(pglite),
        transaction: (fn) => pglite.transaction((tx) => fn(pgliteQueryable(tx))),
        close: () => pglite.close(),
    };
}
