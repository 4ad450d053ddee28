/**
 * Shared plumbing for the local cloud: where it keeps things, how it runs the
 * host's tools, and how it finds what it left behind after a crash.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * The name of this local cloud (env LOCAL_CLOUD_NAME, default "foobar"). It prefixes every
 * host-visible object (namespaces, nspawn machines) and names the state dir, so that two
 * clouds, say a developer's `local:up` and a test suite, run side by side and the `down`
 * of one never touches the other. No dashes, so one cloud's prefix never starts another's.
 */
export function cloudName(): string {
    const name = process.env.LOCAL_CLOUD_NAME ?? "foobar";
    if (!/^[a-z][a-z0-9]{0,15}$/.test(name)) {
        throw new Error(`LOCAL_CLOUD_NAME=${JSON.stringify(name)}: use 1 to 16 lower-case letters and digits, starting with a letter`);
    }
    return name;
}

/**
 * Passed to every systemd-nspawn this cloud starts. It shows in nspawn's command line,
 * so a later `down` finds containers (and image builds) of a crashed run by scanning /proc.
 */
export function nspawnMarker(): string {
    return `--setenv=FOOBAR_LOCAL_CLOUD=${cloudName()}`;
}

/** Where the root file system is cached (shared by all clouds): outside the repository, it is large and root-owned. */
export function cacheDir(): string {
    return process.env.LOCAL_CLOUD_CACHE ?? "/var/cache/foobar-local-cloud";
}

/** Where this cloud's containers keep their seed, pid file and console log. */
export function stateDir(): string {
    return process.env.LOCAL_CLOUD_STATE ?? path.join("/run/foobar-local-cloud", cloudName());
}

/**
 * nspawn on this machine kind needs the legacy cgroup hierarchy (no systemd on the host
 * to delegate a unified one), so every call carries this environment.
 */
export function nspawnEnv(): NodeJS.ProcessEnv {
    return { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "0" };
}

export function log(message: string): void {
    process.stderr.write(`[local-cloud] ${message}\n`);
}

/** A command killed at its `timeoutMs`: on a busy host that means "no answer yet", not "failed". */
export class CommandTimeout extends Error {
    constructor(
        readonly command: string,
        readonly timeoutMs: number,
    ) {
        super(`timed out after ${timeoutMs} ms: ${command}`);
        this.name = "CommandTimeout";
    }
}

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface RunOptions {
    env?: NodeJS.ProcessEnv;
    /** Throw when the command exits non-zero (default true). */
    check?: boolean;
    /** Kill the command (SIGKILL) after this long and throw. */
    timeoutMs?: number;
    /** Called with each line the command prints on stdout or stderr, as it prints it. */
    onLine?: (line: string) => void;
}

/** Runs a command without a shell, collecting its output; long-running steps use this. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const { check = true, env, timeoutMs, onLine } = opts;
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let partial = "";
        const feed = (chunk: Buffer): void => {
            if (!onLine) return;
            const lines = (partial + chunk.toString()).split("\n");
            partial = lines.pop() ?? "";
            lines.forEach(onLine);
        };
        child.stdout.on("data", (c: Buffer) => {
            out.push(c);
            feed(c);
        });
        child.stderr.on("data", (c: Buffer) => {
            err.push(c);
            feed(c);
        });
        let timedOut = false;
        const timer =
            timeoutMs === undefined
                ? undefined
                : setTimeout(() => {
                      timedOut = true;
                      child.kill("SIGKILL");
                  }, timeoutMs);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            if (onLine && partial) onLine(partial);
            const result = {
                code: code ?? 128,
                stdout: Buffer.concat(out).toString(),
                stderr: Buffer.concat(err).toString(),
            };
            const what = `${cmd} ${args.join(" ")}`;
            if (timedOut) reject(new CommandTimeout(what, timeoutMs!));
            else if (check && result.code !== 0) {
                reject(new Error(`exit ${code ?? signal}: ${what}\n${tail(result.stderr || result.stdout, 40)}`));
            } else resolve(result);
        });
    });
}

/** Runs a quick command synchronously (ip, mount); throws with its stderr on failure. */
export function runSync(cmd: string, args: readonly string[]): string {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`${cmd} ${args.join(" ")}: ${(err.stderr ?? "").trim() || err.message}`);
    }
}

/** Like runSync, but a failure is expected and ignored (e.g. deleting what may not exist). */
export function tryRunSync(cmd: string, args: readonly string[]): boolean {
    try {
        runSync(cmd, args);
        return true;
    } catch {
        return false;
    }
}

/** The last `n` lines of a text, for error messages. */
export function tail(text: string, n: number): string {
    return text.trimEnd().split("\n").slice(-n).join("\n");
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

export interface ProcInfo {
    pid: number;
    ppid: number;
    argv: string[];
}

/** Every process on the host, read from /proc (processes that exit meanwhile are skipped). */
export function processes(): ProcInfo[] {
    const result: ProcInfo[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            // The command name in parentheses may hold spaces; ppid is the 2nd field after it.
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            const argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
            result.push({ pid: Number(entry), ppid, argv });
        } catch {
            // gone meanwhile
        }
    }
    return result;
}

/** Whether a process exists and is not a zombie (one that exited but was not yet reaped). */
export function isAlive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

/** Sends a signal, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
    try {
        process.kill(pid, sig);
    } catch {
        // already gone
    }
}

/** One look at something awaited: its value once there, or what it is doing meanwhile. */
export type Probe<T> = { ready: T } | { notYet: string };

/**
 * Polls `probe` until it is ready. Only the overall deadline fails: a probe that times out
 * (CommandTimeout, a slow answer on a saturated host) counts as "not yet", like any other
 * not-ready answer. Any other error a probe throws is final. The deadline's error names
 * `what`, the last answer, and `hint` (where to look).
 */
export async function pollUntilReady<T>(opts: {
    what: string;
    timeoutMs: number;
    intervalMs: number;
    probe: () => Promise<Probe<T>>;
    hint?: () => string;
}): Promise<T> {
    const deadline = Date.now() + opts.timeoutMs;
    let last = "no answer yet";
    for (;;) {
        try {
            const answer = await opts.probe();
            if ("ready" in answer) return answer.ready;
            last = answer.notYet;
        } catch (err) {
            if (!(err instanceof CommandTimeout)) throw err;
            last = `no answer within ${err.timeoutMs / 1000} s (${err.command})`;
        }
        if (Date.now() > deadline) {
            throw new Error(`${opts.what} not ready after ${opts.timeoutMs / 1000} s; last: ${last}${opts.hint ? `\n${opts.hint()}` : ""}`);
        }
        await sleep(opts.intervalMs);
    }
}

/**
 * Samples the host's CPU pressure (PSI, /proc/pressure/cpu: the share of time some runnable task waited for a CPU,
 * averaged over 10 s) every `intervalMs`; `stop` returns the peak in percent, undefined where the kernel has no PSI.
 */
export function sampleCpuPressure(intervalMs = 2_000): { stop: () => number | undefined } {
    let peak: number | undefined;
    const sample = () => {
        try {
            const avg10 = Number(/^some avg10=([\d.]+)/.exec(fs.readFileSync("/proc/pressure/cpu", "utf8"))?.[1]);
            if (!Number.isNaN(avg10)) peak = Math.max(peak ?? 0, avg10);
        } catch {
            // no PSI on this kernel
        }
    };
    sample();
    const timer = setInterval(sample, intervalMs);
    return {
        stop: () => {
            clearInterval(timer);
            sample();
            return peak;
        },
    };
}

/** Polls until `pid` is gone; returns false if it is still there after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (isAlive(pid)) {
        if (Date.now() > deadline) return false;
        await sleep(200);
    }
    return true;
}

/** Mount points at or below `dir` in the host's mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
    const root = path.resolve(dir);
    return (
        fs
            .readFileSync("/proc/self/mountinfo", "utf8")
            .split("\n")
            .filter(Boolean)
            // Field 5 is the mount point, with spaces etc. octal-escaped.
            .map((line) => line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
            .filter((m) => m === root || m.startsWith(root + "/"))
            .sort((a, b) => b.length - a.length)
    );
}

/** Lazily unmounts everything at or below `dir`, so it can be deleted safely. */
export function unmountAllUnder(dir: string): void {
    for (const m of mountsUnder(dir)) tryRunSync("umount", ["--lazy", m]);
}

/** Deletes a tree that a crashed step may still have mounts in, never crossing into them. */
export function removeTree(dir: string): void {
    if (!fs.existsSync(dir)) return;
    unmountAllUnder(dir);
    runSync("rm", ["-rf", "--one-file-system", dir]);
}

/**
 * Why the local cloud cannot run on this host, or undefined when it can:
 * it needs root and the host tools it drives.
 */
export function unsupportedReason(): string | undefined {
    if (process.getuid?.() !== 0) return "the local cloud needs root (systemd-nspawn, ip netns, nftables, loop devices, debootstrap)";
    const missing = ["systemd-nspawn", "debootstrap", "ip", "nsenter", "nft", "losetup"].filter(
        (tool) => !["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((dir) => fs.existsSync(path.join(dir, tool))),
    );
    return missing.length > 0
        ? `missing host tools: ${missing.join(", ")} (apt-get install systemd-container debootstrap iproute2 util-linux mount nftables)`
        : undefined;
}

/**
 * A self-signed ECDSA P-256 certificate and its key, as one PEM (certificate first): what the deploy's
 * `@pulumi/tls` resources put in the TLS parameter, made here with openssl for the local cloud and the tests.
 */
export function selfSignedPem(commonName: string, days: number): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "foobar-tls-"));
    try {
        const key = path.join(dir, "tls.key");
        const cert = path.join(dir, "tls.crt");
        runSync("openssl", [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            String(days),
            "-subj",
            `/CN=${commonName}`,
            "-keyout",
            key,
            "-out",
            cert,
        ]);
        return fs.readFileSync(cert, "utf8") + fs.readFileSync(key, "utf8");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
