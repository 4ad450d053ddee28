/**
 * The app as the web servers run it: the shipped files under real gunicorn (the rendered gunicorn settings,
 * Debian's Flask and PyMySQL), against a real MariaDB server, all on loopback. gunicorn runs in a mount
 * namespace of its own whose /etc/hosts the test rewrites, so the database endpoint names can move (failover).
 */
import * as fs from "fs";
import * as path from "path";
import { maxRequestBodyBytes, renderGunicornConfig } from "../../../../userdata/webServer";
import { run, tempDir } from "../../../helpers";
import { Daemon, entriesTableSql, freePort, ScratchMariadb, waitFor } from "../../daemons";

const appDir = path.join(__dirname, "../../../../userdata/files/app");
const dbName = "foobar";
const password = "testpassword1";
const writerName = "db-writer.apptest.internal";
const readerName = "db-reader.apptest.internal";

let db: ScratchMariadb;
let app: Daemon;
let base: string;
let hostsFile: string;
let dir: string;

function writeHosts(writerAddress: string) {
    // In place (same inode): the bind mount inside gunicorn's namespace shows the new content.
    fs.writeFileSync(hostsFile, `127.0.0.1 localhost\n${writerAddress} ${writerName}\n127.0.0.1 ${readerName}\n`);
}

interface Answer {
    status: number;
    text: string;
    ms: number;
}

async function request(method: string, p: string, body?: string, contentType = "application/json"): Promise<Answer> {
    const started = Date.now();
    const res = await fetch(base + p, {
        method,
        body,
        headers: body === undefined ? {} : { "content-type": contentType },
        redirect: "manual",
        signal: AbortSignal.timeout(10000),
    });
    return { status: res.status, text: await res.text(), ms: Date.now() - started };
}

const postEntry = (body: string) => request("POST", "/api/entries", JSON.stringify({ body }));
const rowsWithBody = (body: string) => Number(db.sql(`SELECT COUNT(*) FROM ${dbName}.entries WHERE body = '${body}'`)[0][0]);
/** Established TCP connections to the database port at `address` (loopback's source address is always 127.0.0.1, so
 * the server cannot tell; the kernel's socket table can). Only the app connects over TCP here. */
function connectionsTo(address: string): number {
    const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");
    const ip = address.split(".").map(Number);
    const remote = `${hex((ip[3] << 24) + (ip[2] << 16) + (ip[1] << 8) + ip[0], 8)}:${hex(db.port, 4)}`;
    const rows = fs
        .readFileSync("/proc/net/tcp", "utf8")
        .split("\n")
        .slice(1)
        .map((l) => l.trim().split(/\s+/));
    return rows.filter((f) => f[2] === remote && f[3] === "01").length;
}

/** The app's settings, as its EnvironmentFile gives them, against the scratch database. */
const appEnv = (overrides: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    PYTHONDONTWRITEBYTECODE: "1", // the app runs from the source tree
    SITE_NAME: "www.foobar.test",
    DB_WRITER_HOST: writerName,
    DB_READER_HOST: readerName,
    DB_PORT: String(db.port),
    DB_NAME: dbName,
    DB_USER: "app",
    DB_PASSWORD: password,
    MAX_BODY_BYTES: String(maxRequestBodyBytes),
    ...overrides,
});

beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error("this suite needs root: gunicorn runs in a mount namespace of its own (unshare)");
    db = await ScratchMariadb.create();
    db.sql(`CREATE DATABASE ${dbName}; ${entriesTableSql(dbName)}`);
    for (const host of ["127.0.0.1", "127.0.0.2"]) {
        db.sql(
            `CREATE USER 'app'@'${host}' IDENTIFIED BY '${password}'; GRANT SELECT, INSERT ON ${dbName}.* TO 'app'@'${host}'; ` +
                `GRANT SLAVE MONITOR ON *.* TO 'app'@'${host}';`,
        );
    }
    dir = tempDir("app-live");
    hostsFile = path.join(dir, "hosts");
    writeHosts("127.0.0.1");
    const config = path.join(dir, "gunicorn.conf.py");
    fs.writeFileSync(config, renderGunicornConfig());
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = appEnv();
    // `exec` keeps one process: the daemon's pid is gunicorn's master. The bind given here replaces the rendered
    // unix socket, which exists only on an instance.
    const script = `mount --bind "$1" /etc/hosts && shift && exec "$@"`;
    app = new Daemon(
        "gunicorn",
        "unshare",
        [
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            hostsFile,
            "/usr/bin/gunicorn",
            "--config",
            config,
            "--bind",
            `127.0.0.1:${port}`,
        ],
        { env, cwd: appDir },
    );
    const answering = async () => {
        if (!app.running) throw new Error("gunicorn exited");
        return (await request("GET", "/healthz")).status === 200;
    };
    await waitFor("gunicorn answering", answering, 20000).catch((err) => {
        throw new Error(`${err}\ngunicorn said: ${app.output}`);
    });
}, 60000);

afterAll(async () => {
    await app?.stop();
    await db?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const cpus = () => Number(run("nproc", []).stdout.trim());
const expectedWorkers = () => Math.min(2 * cpus() + 1, 17);

/** The pids whose parent is gunicorn's master. */
function workerPids(): string[] {
    return fs
        .readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
            try {
                return fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ")[1] === String(app.pid);
            } catch {
                return false; // gone meanwhile
            }
        });
}

test("gunicorn runs 2 workers per CPU + 1, as the rendered settings compute at start", async () => {
    // The master starts its workers one after another.
    await waitFor(`${expectedWorkers()} workers`, () => workerPids().length >= expectedWorkers(), 10000);
    expect(workerPids()).toHaveLength(expectedWorkers());
});

test("reads reuse the workers' database connections: 200 requests open at most one per worker", async () => {
    const workers = expectedWorkers();
    expect((await postEntry("reuse")).status).toBe(201);
    const before = db.statusValue("Connections");
    for (let i = 0; i < 200; i++) expect((await request("GET", "/api/entries?limit=5")).status).toBe(200);
    // Each SHOW STATUS through the mariadb client is one connection of its own.
    const opened = db.statusValue("Connections") - before - 1;
    expect(opened).toBeLessThanOrEqual(workers);
    // Had every request opened one, it would be 200.
    expect(opened).toBeLessThan(200);
});

test.each(["abc", "0", "101", "-1", "1e3", "99999999999999999999999", ""])("limit=%j gets a 400 saying what is allowed", async (limit) => {
    const answer = await request("GET", `/api/entries?limit=${encodeURIComponent(limit)}`);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text).error).toMatch(/limit must be a whole number from 1 to 100/);
});

test("a valid limit bounds the rows read", async () => {
    for (let i = 0; i < 3; i++) expect((await postEntry(`limit-${i}`)).status).toBe(201);
    const answer = await request("GET", "/api/entries?limit=2");
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).entries).toHaveLength(2);
});

test("an over-long body gets a 413 that says the limit, as JSON and as a page", async () => {
    const big = JSON.stringify({ body: "x".repeat(maxRequestBodyBytes) });
    const json = await request("POST", "/api/entries", big);
    expect(json.status).toBe(413);
    expect(JSON.parse(json.text).error).toContain(`the most this site accepts is ${maxRequestBodyBytes}`);
    const form = await request("POST", "/entries", `body=${"y".repeat(maxRequestBodyBytes)}`, "application/x-www-form-urlencoded");
    expect(form.status).toBe(413);
    expect(form.text).toContain("the most this site accepts");
});

test("bad input and unknown pages say what was wrong", async () => {
    const notJson = await request("POST", "/api/entries", "body=hello", "application/x-www-form-urlencoded");
    expect(notJson.status).toBe(400);
    expect(JSON.parse(notJson.text).error).toMatch(/JSON object/);
    const tooLongEntry = await postEntry("z".repeat(281));
    expect(tooLongEntry.status).toBe(400);
    expect(JSON.parse(tooLongEntry.text).error).toMatch(/1 to 280 characters/);
    const missing = await request("GET", "/api/nothing-here");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).error).toMatch(/404 Not Found/);
    const page = await request("GET", "/nothing-here");
    expect(page.status).toBe(404);
    expect(page.text).toMatch(/Error 404/);
});

test("a write is stored exactly once", async () => {
    const answer = await postEntry("exactly-once");
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.text).id).toBeGreaterThan(0);
    expect(rowsWithBody("exactly-once")).toBe(1);
});

test("a frozen database costs a write a clear 503 within 2.5 s, never a hang", async () => {
    expect((await postEntry("before-freeze")).status).toBe(201);
    db.daemon!.signal("SIGSTOP");
    try {
        const write = await postEntry("during-freeze");
        expect(write.status).toBe(503);
        expect(JSON.parse(write.text).error).toMatch(new RegExp(`primary database \\(${writerName}\\)`));
        expect(write.ms).toBeLessThan(2500);
        const readAnswer = await request("GET", "/api/entries");
        expect(readAnswer.status).toBe(503);
        expect(readAnswer.ms).toBeLessThan(2500);
    } finally {
        db.daemon!.signal("SIGCONT");
    }
});

test("with the database stopped writes fail fast with 503, and the app recovers by itself when it returns", async () => {
    const masterPid = app.pid;
    await db.stop();
    const write = await postEntry("while-down");
    expect(write.status).toBe(503);
    expect(write.ms).toBeLessThan(1000);
    expect(JSON.parse(write.text).error).toMatch(/writes are unavailable: the primary database .* does not answer/);
    const page = await request("GET", "/");
    expect(page.status).toBe(503);
    expect(page.text).toMatch(/The database does not answer/);
    await db.start();
    await waitFor("a write succeeding again", async () => (await postEntry("after-restart")).status === 201, 10000);
    expect(rowsWithBody("while-down")).toBe(0);
    expect(rowsWithBody("after-restart")).toBe(1);
    // Recovered without a restart of the app.
    expect(app.pid).toBe(masterPid);
    expect(app.running).toBe(true);
}, 40000);

test("when the writer endpoint name moves to another address, the app follows without a restart", async () => {
    for (let i = 0; i < 10; i++) expect((await postEntry(`before-move-${i}`)).status).toBe(201);
    expect(connectionsTo("127.0.0.1")).toBeGreaterThan(0);
    expect(connectionsTo("127.0.0.2")).toBe(0);
    writeHosts("127.0.0.2");
    // Reused connections re-check the name every 5 s; writes keep succeeding meanwhile.
    await waitFor(
        "a write over a connection to the new address",
        async () => {
            expect((await postEntry("after-move")).status).toBe(201);
            return connectionsTo("127.0.0.2") > 0;
        },
        12000,
    );
}, 30000);

test("behind a Galera sidecar the endpoints are named writer and reader, in the status and in a failed write", async () => {
    // Flask's test client in one process: the sidecar's listeners are loopback addresses, as on a web server.
    const script = [
        "import app",
        "client = app.app.test_client()",
        "status = client.get('/api/status').get_json()['database']",
        "print(status['readFrom'], status['replication'])",
    ].join("\n");
    const env = appEnv({ DB_SIDECAR: "haproxy", DB_WRITER_HOST: "127.0.0.1", DB_READER_HOST: "127.0.0.2" });
    const status = run("/usr/bin/python3", ["-c", script], { cwd: appDir, env });
    expect(status.output.trim()).toBe("reader None");
    // Nothing listens on the writer's port: the 503 names the writer endpoint, not a primary.
    const closed = await freePort();
    const write = run(
        "/usr/bin/python3",
        [
            "-c",
            "import app\nr = app.app.test_client().post('/api/entries', json={'body': 'x'})\nprint(r.status_code, r.get_json()['error'])",
        ],
        { cwd: appDir, env: { ...env, DB_PORT: String(closed) } },
    );
    expect(write.output.trim()).toMatch(/^503 writes are unavailable: the writer database \(127\.0\.0\.1\) does not answer/);
});
