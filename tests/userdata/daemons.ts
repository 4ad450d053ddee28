/**
 * Real daemons on loopback for the userdata tests: MariaDB in a scratch data directory, the app under gunicorn,
 * nginx and HAProxy from the rendered configurations. Each runs in a temporary directory of its own and is
 * stopped by the test that started it; nothing listens beyond 127.0.0.0/8.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { bundledFile } from "../../userdata/files";
import { run, tempDir } from "../helpers";

export async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true, at most `timeoutMs`; fails with `what` and the last error. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
        try {
            if (await probe()) return;
        } catch (err) {
            last = String(err);
        }
        await sleep(100);
    }
    throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? `: ${last}` : ""}`);
}

/** A started process whose output is kept for error messages. */
export class Daemon {
    readonly process: ChildProcess;
    output = "";
    constructor(
        readonly name: string,
        cmd: string,
        args: string[],
        opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
    ) {
        this.process = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
        const keep = (chunk: Buffer) => {
            this.output = (this.output + chunk.toString()).slice(-20000);
        };
        this.process.stdout?.on("data", keep);
        this.process.stderr?.on("data", keep);
    }

    get pid(): number {
        if (this.process.pid === undefined) throw new Error(`${this.name} did not start: ${this.output}`);
        return this.process.pid;
    }

    get running(): boolean {
        return this.process.exitCode === null && this.process.signalCode === null;
    }

    signal(sig: NodeJS.Signals): void {
        if (this.running) this.process.kill(sig);
    }

    /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
    async stop(graceMs = 5000): Promise<void> {
        if (!this.running) return;
        const exited = new Promise((r) => this.process.once("exit", r));
        this.process.kill("SIGCONT");
        this.process.kill("SIGTERM");
        const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
    }
}

/** The entries table exactly as the database servers create it (setup-db.sh), for a given schema name. */
export function entriesTableSql(dbName: string): string {
    const match = bundledFile("scripts/setup-db.sh").match(/CREATE TABLE IF NOT EXISTS[^;]*;/);
    if (!match) throw new Error("setup-db.sh no longer creates the entries table where the tests look for it");
    return match[0].replace(/\\`\$DB_NAME\\`/g, `\`${dbName}\``);
}

/** A MariaDB server in a scratch directory, on 127.0.0.1 and 127.0.0.2 and a socket. */
export class ScratchMariadb {
    readonly dir = tempDir("mariadb-live");
    readonly socket = path.join(this.dir, "mysqld.sock");
    daemon?: Daemon;
    constructor(
        readonly port: number,
        /** More server options, e.g. a one-node Galera cluster's. */
        readonly extraArgs: string[] = [],
    ) {}

    static async create(extraArgs: (port: number) => string[] = () => []): Promise<ScratchMariadb> {
        const port = await freePort();
        const db = new ScratchMariadb(port, extraArgs(port));
        const installed = run("mariadb-install-db", [
            "--no-defaults",
            `--datadir=${path.join(db.dir, "data")}`,
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ]);
        if (installed.status !== 0) throw new Error(`mariadb-install-db could not create a data directory: ${installed.output}`);
        await db.start();
        return db;
    }

    async start(): Promise<void> {
        this.daemon = new Daemon("mariadbd", "mariadbd", [
            "--no-defaults",
            "--user=root",
            `--datadir=${path.join(this.dir, "data")}`,
            `--socket=${this.socket}`,
            `--pid-file=${path.join(this.dir, "mysqld.pid")}`,
            "--bind-address=127.0.0.1,127.0.0.2",
            `--port=${this.port}`,
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            ...this.extraArgs,
        ]);
        const daemon = this.daemon;
        await waitFor(
            `mariadbd answering on ${this.socket}`,
            () => {
                if (!daemon.running) throw new Error(`mariadbd exited: ${daemon.output}`);
                return this.sqlResult("SELECT 1").status === 0;
            },
            20000,
        );
    }

    sqlResult(sql: string) {
        return run("mariadb", ["--no-defaults", `--socket=${this.socket}`, "--user=root", "-N", "-B", "-e", sql]);
    }

    /** Runs SQL as root over the socket; returns the output's rows. */
    sql(sql: string): string[][] {
        const result = this.sqlResult(sql);
        if (result.status !== 0) throw new Error(`SQL failed (${sql}): ${result.output}`);
        return result.stdout
            .split("\n")
            .filter(Boolean)
            .map((l) => l.split("\t"));
    }

    statusValue(name: string): number {
        return Number(this.sql(`SHOW GLOBAL STATUS LIKE '${name}'`)[0][1]);
    }

    async stop(): Promise<void> {
        await this.daemon?.stop(20000);
    }

    async remove(): Promise<void> {
        await this.stop();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/**
 * A rendered HAProxy configuration made to run on loopback in `dir`: the public and stats frontends on the
 * given loopback ports, each server at the loopback port given for its name, the admin socket in `dir`.
 * Everything else (timeouts, retries, checks, reuse) stays as rendered.
 */
export function haproxyOnLoopback(
    cfg: string,
    dir: string,
    ports: { www: number; stats: number; servers: Record<string, number> },
): string {
    let out = cfg
        .replace(/^ {4}bind :80$/m, `    bind 127.0.0.1:${ports.www}`)
        .replace(/^ {4}bind :8404$/m, `    bind 127.0.0.1:${ports.stats}`)
        .replace(/stats socket \S+/, `stats socket ${path.join(dir, "admin.sock")}`)
        .replace(/^ {4}log \/dev\/log .*\n/m, "");
    for (const [name, port] of Object.entries(ports.servers)) {
        out = out.replace(new RegExp(`^( {4}server ${name} )\\S+:80 `, "gm"), `$1127.0.0.1:${port} `);
    }
    if (/bind :|:80 /.test(out)) throw new Error(`the HAProxy configuration still listens or connects beyond loopback:\n${out}`);
    return out;
}

/** Server name → status (UP, DOWN, ...) in a backend, from HAProxy's CSV stats. */
export async function haproxyServerStatus(statsPort: number, backend: string): Promise<Record<string, string>> {
    const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, { signal: AbortSignal.timeout(2000) })).text();
    const rows = csv.split("\n").map((l) => l.split(","));
    const header = rows[0].map((h) => h.replace(/^# /, ""));
    const col = (n: string) => header.indexOf(n);
    return Object.fromEntries(
        rows
            .filter((r) => r[col("pxname")] === backend && !["FRONTEND", "BACKEND"].includes(r[col("svname")]))
            .map((r) => [r[col("svname")], r[col("status")]]),
    );
}
