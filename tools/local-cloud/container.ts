/**
 * One local-cloud instance = one `systemd-nspawn --boot` container over the shared,
 * read-only image, with a tmpfs overlay for its writes, its NoCloud seed bind-mounted
 * in, and a network namespace prepared by network.ts.
 *
 * Everything needed to find a container again (pid, spec) is kept in the state dir,
 * and `downAll` also scans /proc and the namespaces, so a crashed run is cleaned up too.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { imageRoot } from "./image";
import { InstanceIdentity, startMetadata } from "./aws";
import { attach, destroyAllNetworks, detach, netnsPath, Vpc, vpcNetns } from "./network";
import {
    cloudName,
    isAlive,
    log,
    nspawnEnv,
    nspawnMarker,
    pollUntilReady,
    processes,
    removeTree,
    run,
    RunResult,
    signal,
    sleep,
    stateDir,
    tail,
    unmountAllUnder,
    waitForExit,
} from "./util";

/** Where the seed is bind-mounted: cloud-init's NoCloud datasource reads it there. */
const SEED_MOUNT = "/var/lib/cloud/seed/nocloud";

const NSPAWN_PROPAGATE_DIR = "/run/systemd/nspawn/propagate";

/** A clean environment for commands run inside a container (not the host's PATH or locale). */
const CONTAINER_ENV = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    LANG: "C.UTF-8",
};

export interface ContainerSpec {
    /** Machine name and host name: a DNS label. */
    name: string;
    /** Static address in the VPC. */
    address: string;
    vpc: Vpc;
    /** The exact user-data (e.g. `#cloud-config ...`). */
    userData: string;
    /** NoCloud meta-data; default: instance-id and local-hostname from the name. */
    metaData?: string;
    /** What the instance's metadata service (IMDSv2, aws.ts) says about it; none: no metadata service. */
    identity?: InstanceIdentity;
    /** A host file bind-mounted read-only as /etc/resolv.conf, as an instance's DHCP options name the VPC resolver. */
    resolvConf?: string;
    /** Root file system; default: the cached image. */
    root?: string;
    /** Host block devices (data volumes) the container gets at the same path. */
    devices?: string[];
}

export interface ContainerInfo {
    name: string;
    address: string;
    /** systemd-nspawn's pid. */
    pid: number;
    running: boolean;
    consoleLog: string;
}

/** cloud-init's `status --long --format json`, as printed. */
export interface CloudInitStatus {
    status: string;
    errors: string[];
    /** Absent before cloud-init 23.4 (Debian 12 has 22.4): then {}. */
    recoverable_errors: Record<string, string[]>;
    detail: string;
    datasource: string;
    boot_status_code: string;
}

function machinesDir(): string {
    return path.join(stateDir(), "machines");
}

function machineDir(name: string): string {
    return path.join(machinesDir(), name);
}

/** Console logs stay after `down`, for looking into what went wrong. */
export function consoleLog(name: string): string {
    return path.join(stateDir(), "logs", `${name}.console.log`);
}

/** Boots a container in the background; returns once its init runs (not when it has booted). */
export async function start(spec: ContainerSpec): Promise<ContainerInfo> {
    const { name } = spec;
    checkName(name);
    if (nspawnPid(name) !== undefined) throw new Error(`container ${name} is already running`);
    if (!fs.existsSync(netnsPath(vpcNetns()))) throw new Error("the VPC network does not exist: createVpc() first");
    const root = spec.root ?? imageRoot();
    if (!fs.existsSync(path.join(root, "usr/lib/os-release"))) throw new Error(`no image at ${root}: ensureImage() first`);

    const dir = machineDir(name);
    removeTree(dir);
    const seed = path.join(dir, "seed");
    fs.mkdirSync(seed, { recursive: true });
    fs.writeFileSync(path.join(seed, "user-data"), spec.userData);
    fs.writeFileSync(path.join(seed, "meta-data"), spec.metaData ?? `instance-id: ${name}\nlocal-hostname: ${name}\n`);
    const netns = attach(name, spec.address, spec.vpc);
    if (spec.identity) await startMetadata(name, spec.address, spec.identity);

    const args = [
        "--boot",
        "--volatile=overlay",
        "--read-only",
        // No systemd on the host to register with or to make a scope unit.
        "--register=no",
        "--keep-unit",
        nspawnMarker(),
        `--machine=${machineName(name)}`,
        `--hostname=${name}`,
        `--directory=${root}`,
        `--network-namespace-path=${netns}`,
        // As on EC2, an instance configures its own network (keepalived adds the pair's virtual address); nspawn keeps
        // CAP_NET_ADMIN only for networks it made itself. The namespace is the container's own: the VPC's firewall and
        // the bridge's source check stay out of its reach.
        "--capability=CAP_NET_ADMIN",
        `--bind-ro=${seed}:${SEED_MOUNT}`,
        ...(spec.resolvConf ? [`--bind-ro=${path.resolve(spec.resolvConf)}:/etc/resolv.conf`] : []),
        // Same path inside, so that libblkid finds it by the name /proc/partitions gives (fstab mounts by UUID).
        ...(spec.devices ?? []).map((device) => `--bind=${device}`),
        // Output only: nobody types into a detached console.
        "--console=read-only",
        // The image's own resolver (none), time zone (UTC) and journal stay as on EC2.
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
    ];
    fs.mkdirSync(path.dirname(consoleLog(name)), { recursive: true });
    const out = fs.openSync(consoleLog(name), "w");
    const child = spawn("systemd-nspawn", args, { env: nspawnEnv(), detached: true, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start systemd-nspawn for ${name}`);
    const pid = child.pid;
    fs.writeFileSync(path.join(dir, "nspawn.pid"), `${pid}\n`);
    const startedAt = Date.now();
    fs.writeFileSync(path.join(dir, "container.json"), JSON.stringify({ name, address: spec.address, root, startedAt }, null, 2) + "\n");

    const deadline = Date.now() + 30_000;
    while (leaderPid(pid) === undefined) {
        if (!isAlive(pid)) throw new Error(`systemd-nspawn for ${name} exited:\n${tail(readLog(name), 30)}`);
        if (Date.now() > deadline) throw new Error(`container ${name} has no init after 30 s:\n${tail(readLog(name), 30)}`);
        await sleep(100);
    }
    log(`started ${name} (${spec.address}), nspawn pid ${pid}, console ${consoleLog(name)}`);
    return { name, address: spec.address, pid, running: true, consoleLog: consoleLog(name) };
}

/** Containers known to the state dir, running or not. */
export function list(): ContainerInfo[] {
    if (!fs.existsSync(machinesDir())) return [];
    return fs
        .readdirSync(machinesDir())
        .sort()
        .map((name) => {
            const pid = readPidFile(name) ?? 0;
            let address = "";
            try {
                address = (JSON.parse(fs.readFileSync(path.join(machineDir(name), "container.json"), "utf8")) as { address: string })
                    .address;
            } catch {
                // written right after the pid file; a crash in between leaves no address
            }
            return { name, address, pid, running: nspawnPid(name) !== undefined, consoleLog: consoleLog(name) };
        });
}

export interface ExecOptions {
    /** Throw when the command exits non-zero (default true). */
    check?: boolean;
    timeoutMs?: number;
}

/** Runs a command inside a running container, in all its namespaces, as its root. */
export async function exec(name: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    const pid = nspawnPid(name);
    const leader = pid === undefined ? undefined : leaderPid(pid);
    if (leader === undefined) throw new Error(`container ${name} is not running`);
    return run("nsenter", ["-t", String(leader), "-a", "-r", "-w", "--", ...cmd], {
        env: CONTAINER_ENV,
        check: opts.check,
        timeoutMs: opts.timeoutMs,
    });
}

const FINAL_STATES = new Set(["done", "error", "degraded done", "degraded error"]);

/** cloud-init's records of a boot (22.4): status.json from its first stage on, result.json once its last stage has ended. */
const CLOUD_INIT_RUN_DIR = "/run/cloud-init";

/** `cloud-init status` starts a Python interpreter in the container: on a saturated host, asked at most this often while booting. */
const STATUS_COMMAND_INTERVAL_MS = 30_000;

/** A file inside a running container, read from the host through its init's root: nothing runs inside, nothing blocks. */
function readInContainer(name: string, file: string): string | undefined {
    const pid = nspawnPid(name);
    const leader = pid === undefined ? undefined : leaderPid(pid);
    if (leader === undefined) return undefined;
    try {
        return fs.readFileSync(`/proc/${leader}/root${file}`, "utf8");
    } catch {
        return undefined;
    }
}

/**
 * cloud-init's progress as its records show it, without running anything in the container:
 * "done", "error", "running <stage>", or "not started". For probes that must answer at once
 * on a busy host (local:status, the wait below); `cloud-init status` stays the final word.
 */
export function cloudInitProgress(name: string): string {
    try {
        const result = readInContainer(name, `${CLOUD_INIT_RUN_DIR}/result.json`);
        if (result !== undefined) return (JSON.parse(result) as { v1: { errors: unknown[] } }).v1.errors.length > 0 ? "error" : "done";
        const status = readInContainer(name, `${CLOUD_INIT_RUN_DIR}/status.json`);
        if (status === undefined) return "not started";
        const stage = (JSON.parse(status) as { v1: { stage: string | null } }).v1.stage;
        return stage ? `running ${stage}` : "running";
    } catch {
        // caught mid-write: cloud-init replaces these files whole, so the next look reads them complete
        return "running";
    }
}

const CLOUD_INIT_STATUS = ["cloud-init", "status", "--long", "--format", "json"];

export interface CloudInitWaitOptions {
    /** Per-call limit of the status command; a slower answer counts as "not yet" (default 30 s). */
    probeTimeoutMs?: number;
    /** The command that prints cloud-init's status as JSON (default `cloud-init status --long --format json`; tests slow it down). */
    statusCommand?: readonly string[];
}

/**
 * Whether cloud-init has finished one of its modules in this boot (an event such as
 * `modules-final/config-package-update-upgrade-install`, as `cloud-init analyze` reads it from its log), or the boot.
 */
export function cloudInitPassed(name: string, event: string): boolean {
    const progress = cloudInitProgress(name);
    if (progress === "done" || progress === "error") return true;
    return readInContainer(name, "/var/log/cloud-init.log")?.includes(`finish: ${event}:`) ?? false;
}

/**
 * Waits until cloud-init has finished (or is disabled) and returns its status. Only `timeoutMs`
 * fails the wait: a probe that takes longer than its own limit to answer counts as "not yet".
 * The error names the instance, cloud-init's last known state and the console log.
 */
export async function waitForCloudInit(name: string, timeoutMs: number, opts: CloudInitWaitOptions = {}): Promise<CloudInitStatus> {
    const { probeTimeoutMs = 30_000, statusCommand = CLOUD_INIT_STATUS } = opts;
    let lastStatusCommand = 0;
    return pollUntilReady<CloudInitStatus>({
        what: `cloud-init in ${name}`,
        timeoutMs,
        intervalMs: 1000,
        hint: () => `console log: ${consoleLog(name)}\n${tail(readLog(name), 30)}`,
        probe: async () => {
            const pid = nspawnPid(name);
            if (pid === undefined) throw new Error(`container ${name} stopped while booting:\n${tail(readLog(name), 30)}`);
            if (leaderPid(pid) === undefined) return { notYet: "no init yet" };
            const progress = cloudInitProgress(name);
            const finished = progress === "done" || progress === "error";
            // Without records (cloud-init disabled writes none) the command is asked now and then.
            if (!finished && Date.now() - lastStatusCommand < STATUS_COMMAND_INTERVAL_MS) return { notYet: progress };
            lastStatusCommand = Date.now();
            // Exits non-zero when cloud-init reports an error; the JSON still says which.
            const r = await exec(name, statusCommand, { check: false, timeoutMs: probeTimeoutMs });
            let status: CloudInitStatus;
            try {
                status = { recoverable_errors: {}, ...JSON.parse(r.stdout) } as CloudInitStatus;
            } catch {
                // Early in the boot cloud-init may not answer yet.
                return { notYet: (r.stderr || r.stdout).trim() || progress };
            }
            if (FINAL_STATES.has(status.status)) return { ready: status };
            // cloud-init reads "disabled" from the absence of its generator's marker, which
            // is also the case early in the boot: final only once the boot is over.
            if (status.status === "disabled" && (await bootFinished(name, probeTimeoutMs))) return { ready: status };
            return { notYet: `${status.status}: ${status.detail}` };
        },
    });
}

/** Where one instance's boot went, in seconds: what `up` reports and `bench:boot` sums up. */
export interface BootPhases {
    /** From the container's start to cloud-init's first stage (the init system and its early units). */
    untilCloudInit: number;
    /** cloud-init's package module: `package_update` and `packages:` (apt's update, download and dpkg). */
    packages: number;
    /** cloud-init's scripts-user module: the role's setup scripts (runcmd). */
    setupScripts: number;
    /** From the container's start to the end of cloud-init's last stage. */
    total: number;
}

/**
 * The phases of a finished boot, from cloud-init's own records: the stages' times in status.json, and the
 * modules' durations from `cloud-init analyze blame` (run once, after the boot).
 */
export async function bootPhases(name: string): Promise<BootPhases> {
    const info = JSON.parse(fs.readFileSync(path.join(machineDir(name), "container.json"), "utf8")) as { startedAt?: number };
    const stages = (
        JSON.parse(readInContainer(name, `${CLOUD_INIT_RUN_DIR}/status.json`) ?? "{}") as {
            v1?: Record<string, { start: number | null; finished: number | null }>;
        }
    ).v1;
    const firstStart = stages?.["init-local"]?.start;
    const lastEnd = stages?.["modules-final"]?.finished;
    if (info.startedAt === undefined || !firstStart || !lastEnd) throw new Error(`${name}: no record of a finished boot`);
    const blame = (await exec(name, ["cloud-init", "analyze", "blame"], { timeoutMs: 120_000 })).stdout;
    const module = (id: string) => Number(new RegExp(`([\\d.]+)s \\(modules-final/config-${id}\\)`).exec(blame)?.[1] ?? NaN);
    const round = (seconds: number) => Math.round(seconds * 10) / 10;
    return {
        untilCloudInit: round(firstStart - info.startedAt / 1000),
        packages: round(module("package-update-upgrade-install")),
        setupScripts: round(module("scripts-user")),
        total: round(lastEnd - info.startedAt / 1000),
    };
}

async function bootFinished(name: string, timeoutMs: number): Promise<boolean> {
    const r = await exec(name, ["systemctl", "is-system-running"], { check: false, timeoutMs });
    return ["running", "degraded"].includes(r.stdout.trim());
}

/**
 * Stops a container: SIGTERM asks nspawn for an orderly poweroff; a container can hang in
 * poweroff, so after `graceMs` its init is killed (SIGKILL ends its whole pid namespace).
 * Then its network and state go. Idempotent.
 */
export async function stop(name: string, graceMs = 20_000): Promise<void> {
    checkName(name);
    const pid = nspawnPid(name);
    if (pid !== undefined) await terminate(pid, graceMs);
    // Also kills the container's init if nspawn died without it (it stays in the namespace).
    detach(name);
    removeTree(machineDir(name));
    // nspawn's own per-machine directory, which it leaves behind when killed.
    removeTree(path.join(NSPAWN_PROPAGATE_DIR, machineName(name)));
}

/**
 * Kills a container without a shutdown, like pulling an instance's power: its init (and with
 * it the whole pid namespace) gets SIGKILL. Its network and state stay, as a stopped instance
 * keeps its ENI and disks; `stop` cleans them up. Idempotent.
 */
export async function crash(name: string): Promise<void> {
    checkName(name);
    const pid = nspawnPid(name);
    if (pid === undefined) return;
    const leader = leaderPid(pid);
    if (leader !== undefined) signal(leader, "SIGKILL");
    if (!(await waitForExit(pid, 10_000))) signal(pid, "SIGKILL");
    await waitForExit(pid, 5_000);
}

/** Whether a container is known to the state dir (running, crashed or stopping). */
export function isKnown(name: string): boolean {
    return fs.existsSync(machineDir(name));
}

/**
 * Removes everything the local cloud made: containers (also of crashed runs, found by their
 * nspawn command line), processes left in its namespaces, the namespaces with their
 * interfaces, mounts under the state dir and the per-container state. Console logs stay.
 */
export async function downAll(graceMs = 20_000): Promise<void> {
    const known = list().map((c) => c.name);
    const orphans = processes().filter((p) => isOurNspawn(p.argv) && !known.some((n) => machineOf(p.argv) === machineName(n)));
    await Promise.all([
        ...known.map((name) => stop(name, graceMs)),
        ...orphans.map(async (p) => {
            await terminate(p.pid, graceMs);
            const machine = machineOf(p.argv);
            if (machine) removeTree(path.join(NSPAWN_PROPAGATE_DIR, machine));
        }),
    ]);
    destroyAllNetworks();
    unmountAllUnder(stateDir());
    removeTree(machinesDir());
}

async function terminate(pid: number, graceMs: number): Promise<void> {
    const leader = leaderPid(pid);
    signal(pid, "SIGTERM");
    if (await waitForExit(pid, graceMs)) return;
    log(`nspawn ${pid} still running ${graceMs} ms after SIGTERM: killing the container's init ${leader}`);
    if (leader !== undefined) signal(leader, "SIGKILL");
    if (await waitForExit(pid, 10_000)) return;
    signal(pid, "SIGKILL");
    await waitForExit(pid, 5_000);
}

function isOurNspawn(argv: readonly string[]): boolean {
    return path.basename(argv[0] ?? "") === "systemd-nspawn" && argv.includes(nspawnMarker());
}

function checkName(name: string): void {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) throw new Error(`container name ${JSON.stringify(name)} is not a short DNS label`);
}

/** nspawn's machine name: unique across clouds (it names nspawn's own directories on the host). */
function machineName(name: string): string {
    return `${cloudName()}-${name}`;
}

function machineOf(argv: readonly string[]): string {
    return argv.find((a) => a.startsWith("--machine="))?.slice("--machine=".length) ?? "";
}

function readPidFile(name: string): number | undefined {
    try {
        return Number(fs.readFileSync(path.join(machineDir(name), "nspawn.pid"), "utf8")) || undefined;
    } catch {
        return undefined;
    }
}

/** nspawn's pid for a running container, checked against /proc (pids get reused). */
function nspawnPid(name: string): number | undefined {
    const pid = readPidFile(name);
    if (pid === undefined || !isAlive(pid)) return undefined;
    try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return isOurNspawn(argv) && machineOf(argv) === machineName(name) ? pid : undefined;
    } catch {
        return undefined;
    }
}

/**
 * The container's init: nspawn's child that is pid 1 in its own pid namespace
 * (nspawn is a subreaper, so the init is its direct child once the intermediate one exits).
 */
function leaderPid(nspawn: number): number | undefined {
    for (const p of processes()) {
        if (p.ppid !== nspawn) continue;
        try {
            const nspid = /^NSpid:\s+(.*)$/m
                .exec(fs.readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1]
                .trim()
                .split(/\s+/);
            if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === "1") return p.pid;
        } catch {
            // gone meanwhile
        }
    }
    return undefined;
}

function readLog(name: string): string {
    try {
        return fs.readFileSync(consoleLog(name), "utf8");
    } catch {
        return "";
    }
}
