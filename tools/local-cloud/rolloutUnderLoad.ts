/**
 * A rolling change measured from the user's side, for the integration suite and `bench:local`:
 * a scratch copy of the project whose stack file or app differs, `npm run local:up` run in it
 * against the running site, and a steady, bounded load through the load balancer's public
 * address from the internet namespace meanwhile, recording every failed request and which
 * web server (and which version of the app) answered.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { projectRoot } from "../stackFile";
import { inInternet } from "./network";

/** What the program needs to run from a scratch copy: its settings, its top-level modules (whatever they are) and folders. */
const projectEntries = () => [
    "Pulumi.yaml",
    "package.json",
    "tsconfig.json",
    "components",
    "userdata",
    "tools",
    ...fs.readdirSync(projectRoot).filter((f) => f.endsWith(".ts")),
];

/** A scratch copy of the project (its node_modules linked), for changing files as a user would. */
export function scratchProject(stack: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "foobar-rollout-"));
    for (const entry of [...projectEntries(), `Pulumi.${stack}.yaml`]) {
        fs.cpSync(path.join(projectRoot, entry), path.join(dir, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(dir, "node_modules"));
    return dir;
}

/** The text the app's pages carry: "Served by <host>"; `markAppVersion` makes it "Served (v2) by". */
const servedBy = "Served by";

/** Changes the app in a scratch copy (its page template), which changes every web server's user-data. */
export function markAppVersion(dir: string): void {
    const file = path.join(dir, "userdata", "files", "app", "templates", "base.html");
    const text = fs.readFileSync(file, "utf8");
    if (!text.includes(servedBy)) throw new Error(`${file} no longer says "${servedBy}": update rolloutUnderLoad.ts`);
    fs.writeFileSync(file, text.replace(servedBy, "Served (v2) by"));
}

/** Sets `foobar:webCount` in a scratch copy's stack file. */
export function setWebCount(dir: string, stack: string, count: number): void {
    const file = path.join(dir, `Pulumi.${stack}.yaml`);
    const text = fs.readFileSync(file, "utf8");
    if (!/^ {2}foobar:webCount: \d+$/m.test(text)) throw new Error(`${file} sets no foobar:webCount`);
    fs.writeFileSync(file, text.replace(/^( {2}foobar:webCount: )\d+$/m, `$1${count}`));
}

/** `npm run local:up -- --stack <stack>` in a project directory, on the same cloud (LOCAL_CLOUD_NAME); its progress lines. */
export async function localUpIn(dir: string, stack: string, timeoutMs = 15 * 60_000): Promise<{ seconds: number; output: string }> {
    const started = Date.now();
    try {
        const r = await promisify(execFile)("npm", ["run", "-s", "local:up", "--", "--stack", stack], {
            cwd: dir,
            // Explicitly: under Jest, process.env is the test's copy, and a child would otherwise get the real one (another cloud).
            env: { ...process.env },
            timeout: timeoutMs,
            maxBuffer: 16 * 2 ** 20,
        });
        return { seconds: (Date.now() - started) / 1000, output: r.stderr + r.stdout };
    } catch (err) {
        const e = err as { stderr?: string; stdout?: string; message: string };
        throw new Error(`local:up in ${dir} failed: ${e.message}\n${e.stderr ?? ""}${e.stdout ?? ""}`);
    }
}

// Three clients, each one request at a time (a new connection each, as browsers' first visits),
// with a pause of 10 ms; every answer that is not a 200 page naming its web server is a failure.
const loadScript = `
import http.client, json, os, re, sys, threading, time
host, stop_file, max_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
served = re.compile(r"Served (\\(v2\\) )?by <strong>([\\w-]+)</strong>")
lock = threading.Lock()
state = {"requests": 0, "failures": [], "servedBy": {}, "firstSeconds": {}}
start = time.time()
def worker():
    while time.time() - start < max_seconds and not os.path.exists(stop_file):
        t = round(time.time() - start, 2)
        status, key, error = None, None, ""
        try:
            c = http.client.HTTPConnection(host, 80, timeout=10)
            c.request("GET", "/")
            r = c.getresponse()
            status, body = r.status, r.read().decode(errors="replace")
            c.close()
            m = served.search(body)
            if status == 200 and m:
                key = m.group(2) + (" v2" if m.group(1) else " v1")
            else:
                error = body[:200]
        except Exception as e:
            error = repr(e)
        with lock:
            state["requests"] += 1
            if key is None:
                state["failures"].append({"second": t, "status": status, "error": error})
            else:
                state["servedBy"][key] = state["servedBy"].get(key, 0) + 1
                state["firstSeconds"].setdefault(key, t)
        time.sleep(0.01)
threads = [threading.Thread(target=worker) for _ in range(3)]
for th in threads: th.start()
for th in threads: th.join()
state["seconds"] = round(time.time() - start, 1)
print(json.dumps(state))
`;

export interface LoadResult {
    requests: number;
    failures: { second: number; status: number | null; error: string }[];
    /** Answers by "<web server> v1|v2" (v2: the changed app). */
    servedBy: Record<string, number>;
    /** When each "<web server> v1|v2" first answered, in seconds from the start of the load. */
    firstSeconds: Record<string, number>;
    seconds: number;
}

/**
 * Runs `action` while a steady load goes to `host` (a public address) from the internet
 * namespace; the load stops when the action ends, or after `maxSeconds` in any case.
 */
export async function underLoad<T>(host: string, action: () => Promise<T>, maxSeconds = 900): Promise<{ result: T; load: LoadResult }> {
    const stopFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "foobar-load-")), "stop");
    const load = inInternet(["python3", "-c", loadScript, host, stopFile, String(maxSeconds)], (maxSeconds + 60) * 1000);
    try {
        // A few seconds of load before the change, so a failure at its very start would show.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const result = await action();
        await new Promise((resolve) => setTimeout(resolve, 2000));
        return { result, load: await stopped() };
    } catch (err) {
        await stopped().catch(() => undefined);
        throw err;
    }
    async function stopped(): Promise<LoadResult> {
        fs.writeFileSync(stopFile, "");
        const r = await load;
        fs.rmSync(path.dirname(stopFile), { recursive: true, force: true });
        if (r.code !== 0)
            throw new Error(`the load generator failed (exit ${r.code}; 128: killed, e.g. its namespace removed): ${r.stderr}`);
        return JSON.parse(r.stdout) as LoadResult;
    }
}
