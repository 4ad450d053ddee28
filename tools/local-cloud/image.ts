/**
 * The local cloud's "AMI": a Debian 12 root file system built once with debootstrap,
 * cached outside the repository and shared read-only by every container.
 *
 * It carries an offline apt repository of every role package, so cloud-init's
 * `package_update` and `packages:` run as they would on EC2, with Debian's own
 * versions, but without a network.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { allRolePackages } from "../../userdata/packages";
import { localCa } from "./aws";
import { cacheDir, cloudName, isAlive, log, nspawnEnv, nspawnMarker, processes, removeTree, run, signal, waitForExit } from "./util";

/** Bump when the build steps below change in a way the other inputs don't show. */
const BUILDER_VERSION = 5;
const SUITE = "bookworm";

/** Inside the image: the offline repository, its only apt source. */
export const LOCAL_APT_DIR = "/srv/local-apt";

/**
 * What the boot itself needs, on top of debootstrap's minbase. debootstrap's resolver
 * does not pick providers of virtual packages, so cloud-init's python3-cffi-backend is
 * named explicitly; apt-utils provides apt-ftparchive to index the offline repository.
 */
const BASE_PACKAGES = ["apt-utils", "cloud-init", "dbus", "iproute2", "netbase", "python3-cffi-backend", "systemd", "systemd-sysv"];

/**
 * Image-level cloud-init settings (never in the user-data, which must stay the same on EC2).
 * Addresses come from outside, as a hypervisor would set them; nothing may reach a network.
 */
const CLOUD_CFG = `# Written by tools/local-cloud/image.ts: settings of the local cloud's image.
datasource_list: [NoCloud, None]
# eth0 is configured from the host before boot; there is no DHCP server to ask.
network: {config: disabled}
# The offline repository at ${LOCAL_APT_DIR} must stay the only apt source.
apt:
  preserve_sources_list: true
# The root file system is an overlay: nothing to grow.
growpart: {mode: "off"}
resize_rootfs: false
`;

const CLOUD_CFG_FILE = "90-foobar-local-cloud.cfg";

const SOURCES_LIST = `deb [trusted=yes] file:${LOCAL_APT_DIR} ./\n`;

/** Where the image keeps the local cloud's CA; update-ca-certificates adds it to the system bundle that boto3, curl and Go read. */
const TRUSTED_CA_PATH = "usr/local/share/ca-certificates/foobar-local-cloud-ca.crt";

/** Recorded inside the image; its hash decides whether the cache is still good. */
const STAMP_PATH = "etc/foobar-local-cloud-image.json";

export interface ImageInputs {
    builderVersion: number;
    suite: string;
    mirror: string;
    securityMirror: string;
    basePackages: string[];
    rolePackages: string[];
    cloudCfg: string;
    sourcesList: string;
    /** The local cloud's CA (aws.ts), which the image trusts as an AMI trusts Amazon's: the AWS endpoints' front presents its certificates. */
    trustedCa: string;
}

export interface Image {
    /** The root file system, to be booted read-only. */
    root: string;
    /** Hash of the inputs it was built from. */
    hash: string;
    /** Whether this call built it (false: the cache was current). */
    built: boolean;
}

/**
 * The Debian archive the host's apt already uses, so the image's packages come
 * from where the host's come from. LOCAL_CLOUD_MIRROR and
 * LOCAL_CLOUD_SECURITY_MIRROR override it.
 */
export function hostDebianMirrors(): { mirror: string; securityMirror: string } {
    const sources: { uri: string; suites: string[] }[] = [];
    const dir = "/etc/apt/sources.list.d";
    for (const file of fs.existsSync(dir)
        ? fs
              .readdirSync(dir)
              .filter((f) => f.endsWith(".sources"))
              .sort()
        : []) {
        for (const stanza of fs.readFileSync(path.join(dir, file), "utf8").split(/\n\s*\n/)) {
            const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.+)$`, "mi").exec(stanza)?.[1].trim().split(/\s+/) ?? [];
            if (!field("Types").includes("deb")) continue;
            for (const uri of field("URIs")) sources.push({ uri, suites: field("Suites") });
        }
    }
    const list = "/etc/apt/sources.list";
    for (const line of fs.existsSync(list) ? fs.readFileSync(list, "utf8").split("\n") : []) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m) sources.push({ uri: m[1], suites: [m[2]] });
    }
    const find = (suite: string, env: string) => {
        const uri = process.env[env] ?? sources.find((s) => s.suites.includes(suite))?.uri;
        if (!uri) throw new Error(`no apt source for ${suite} on this host: set ${env} to a Debian mirror URL`);
        return uri.replace(/\/+$/, "");
    };
    return { mirror: find(SUITE, "LOCAL_CLOUD_MIRROR"), securityMirror: find(`${SUITE}-security`, "LOCAL_CLOUD_SECURITY_MIRROR") };
}

export function imageInputs(): ImageInputs {
    return {
        builderVersion: BUILDER_VERSION,
        suite: SUITE,
        ...hostDebianMirrors(),
        basePackages: [...BASE_PACKAGES].sort(),
        rolePackages: allRolePackages(),
        cloudCfg: CLOUD_CFG,
        sourcesList: SOURCES_LIST,
        trustedCa: fs.readFileSync(localCa().certPath, "utf8"),
    };
}

export function imageHash(inputs: ImageInputs = imageInputs()): string {
    return createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
}

/** Where the current image lives (it may not exist yet). */
export function imageRoot(): string {
    return path.join(cacheDir(), "rootfs");
}

/** The hash recorded in the cached image, or undefined when there is none. */
function cachedHash(root: string): string | undefined {
    try {
        return (JSON.parse(fs.readFileSync(path.join(root, STAMP_PATH), "utf8")) as { hash: string }).hash;
    } catch {
        return undefined;
    }
}

/** Whether the cached image matches the current inputs (the "warm check"). */
export function imageIsCurrent(): boolean {
    return cachedHash(imageRoot()) === imageHash();
}

/**
 * Returns the cached image, building it first when it is missing or stale.
 * The build goes to a temporary directory renamed into place at the end, so a crash
 * never leaves a half image where a container would boot it.
 */
export async function ensureImage(): Promise<Image> {
    const root = imageRoot();
    const inputs = imageInputs();
    const hash = imageHash(inputs);
    if (cachedHash(root) === hash) return { root, hash, built: false };

    fs.mkdirSync(cacheDir(), { recursive: true });
    const release = takeBuildLock();
    try {
        // Another process may have finished the same build just before we took the lock.
        if (cachedHash(root) === hash) return { root, hash, built: false };
        const users = processes().filter((p) => p.argv.includes(`--directory=${root}`));
        if (users.length > 0) {
            throw new Error(
                `the image at ${root} is stale but containers still use it (pids ${users.map((p) => p.pid).join(", ")}); run local:down first`,
            );
        }
        await removeLeftovers();
        const started = Date.now();
        const tmp = path.join(cacheDir(), `rootfs.tmp-${process.pid}`);
        log(`building image ${hash.slice(0, 12)} in ${tmp} (takes minutes)`);
        await build(tmp, inputs);
        fs.writeFileSync(path.join(tmp, STAMP_PATH), JSON.stringify({ hash, inputs }, null, 2) + "\n");
        if (fs.existsSync(root)) fs.renameSync(root, path.join(cacheDir(), `rootfs.old-${process.pid}`));
        fs.renameSync(tmp, root);
        log(`image ready at ${root} after ${Math.round((Date.now() - started) / 1000)} s`);
        return { root, hash, built: true };
    } finally {
        try {
            // This build's temporary tree if it failed, the replaced image if it succeeded.
            await removeLeftovers();
        } finally {
            release();
        }
    }
}

async function build(dir: string, inputs: ImageInputs): Promise<void> {
    // debootstrap and apt print a line per package: show their milestones and errors,
    // and one of the per-package lines every 10 s as a sign of life.
    const progress = (step: string) => {
        let shown = 0;
        return (line: string): void => {
            const milestone = /^(I: (?!Retrieving|Validating|Extracting|Unpacking|Configuring)|E:|W:|Err:|Error|Valid cloud-config)/.test(
                line,
            );
            const busy = /^(I: |Get:|Unpacking|Setting up)/.test(line);
            if (milestone || (busy && Date.now() - shown > 10_000)) {
                shown = Date.now();
                log(`${step}: ${line}`);
            }
        };
    };

    log("debootstrap: minimal Debian with systemd and cloud-init");
    await run("debootstrap", ["--variant=minbase", `--include=${inputs.basePackages.join(",")}`, inputs.suite, dir, inputs.mirror], {
        onLine: progress("debootstrap"),
    });

    // Debian's cloud images take updates from these suites too; the role packages must match.
    fs.writeFileSync(
        path.join(dir, "etc/apt/sources.list"),
        [
            `deb ${inputs.mirror} ${inputs.suite} main`,
            `deb ${inputs.mirror} ${inputs.suite}-updates main`,
            `deb ${inputs.securityMirror} ${inputs.suite}-security main`,
            "",
        ].join("\n"),
    );

    log(`apt: upgrade, then fetch ${inputs.rolePackages.join(" ")} with every dependency not in the image`);
    // Check-Valid-Until is off because a mirror may serve a dated snapshot of the archive.
    const apt = "apt-get -q -y -o Acquire::Check-Valid-Until=false";
    await inImage(
        dir,
        [
            "apt-get -q -o Acquire::Check-Valid-Until=false update",
            `${apt} dist-upgrade`,
            `${apt} check`,
            "apt-get clean",
            // Same resolution (recommends included) as cloud-init's `apt-get install` at boot.
            `${apt} install --download-only ${inputs.rolePackages.join(" ")}`,
            `mkdir -p ${LOCAL_APT_DIR}`,
            `mv /var/cache/apt/archives/*.deb ${LOCAL_APT_DIR}/`,
            `cd ${LOCAL_APT_DIR}`,
            "apt-ftparchive packages . > Packages",
            "gzip -9nk Packages",
            // Written aside first: apt-ftparchive would otherwise list the half-written Release itself.
            "apt-ftparchive release . > /tmp/Release",
            "mv /tmp/Release Release",
        ].join("\n"),
        progress("apt"),
    );

    log("configuring the image for read-only boots");
    configure(dir, inputs);
    await inImage(
        dir,
        [
            // Index the offline source now, so apt works in a container even without package_update.
            "rm -rf /var/lib/apt/lists/*",
            "apt-get -q update",
            "update-ca-certificates",
            // cloud-init ignores what its schema rejects, with only a warning: fail the build instead.
            `{ echo '#cloud-config'; cat /etc/cloud/cloud.cfg.d/${CLOUD_CFG_FILE}; } > /tmp/image.cfg`,
            "cloud-init schema --config-file /tmp/image.cfg",
            "rm /tmp/image.cfg",
        ].join("\n"),
        progress("check"),
    );
}

/** Runs a shell script inside the image under construction, with the host's network. */
function inImage(dir: string, script: string, onLine: (line: string) => void): Promise<unknown> {
    return run(
        "systemd-nspawn",
        [
            "--quiet",
            "--register=no",
            "--keep-unit",
            "--as-pid2",
            nspawnMarker(),
            `--machine=${cloudName()}-image-build`,
            `--directory=${dir}`,
            // Leave no trace of the host's resolver or time zone in the image.
            "--resolv-conf=bind-host",
            "--timezone=off",
            "--link-journal=no",
            "--setenv=DEBIAN_FRONTEND=noninteractive",
            "/bin/sh",
            "-euxc",
            script,
        ],
        { env: nspawnEnv(), onLine },
    );
}

/** Image-level settings written directly into the tree. */
function configure(dir: string, inputs: ImageInputs): void {
    const write = (rel: string, text: string): void => {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        fs.rmSync(path.join(dir, rel), { force: true });
        fs.writeFileSync(path.join(dir, rel), text, { mode: 0o644 });
    };
    write("etc/apt/sources.list", inputs.sourcesList);
    fs.rmSync(path.join(dir, "etc/apt/sources.list.d"), { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, "etc/apt/sources.list.d"));
    write(`etc/cloud/cloud.cfg.d/${CLOUD_CFG_FILE}`, inputs.cloudCfg);
    write(TRUSTED_CA_PATH, inputs.trustedCa);
    // Empty: systemd gives each boot its own transient id (a read-only root needs the file to exist).
    write("etc/machine-id", "");
    fs.rmSync(path.join(dir, "var/lib/dbus/machine-id"), { force: true });
    fs.symlinkSync("/etc/machine-id", path.join(dir, "var/lib/dbus/machine-id"));
    // No /etc/hostname: the name nspawn gives stays until cloud-init sets the instance's own.
    fs.rmSync(path.join(dir, "etc/hostname"), { force: true });
    // C.UTF-8 needs no `locales` package; cloud-init's locale module then has nothing to do.
    write("etc/default/locale", "LANG=C.UTF-8\n");
    write("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    // Offline: no resolver to name (debootstrap copied the host's).
    write("etc/resolv.conf", "");
    // No one logs in on a detached console; a getty there only adds noise to the log.
    for (const unit of ["getty.target", "console-getty.service", "container-getty@.service"]) {
        fs.rmSync(path.join(dir, "etc/systemd/system", unit), { force: true });
        fs.symlinkSync("/dev/null", path.join(dir, "etc/systemd/system", unit));
    }
}

/**
 * Removes temporary trees of crashed or finished builds (only called under the build lock).
 * A build killed with SIGKILL leaves its debootstrap or nspawn running: those go first.
 */
async function removeLeftovers(): Promise<void> {
    for (const entry of fs.readdirSync(cacheDir())) {
        if (!/^rootfs\.(tmp|old)-\d+$/.test(entry)) continue;
        const dir = path.join(cacheDir(), entry);
        const names = (text: string): boolean => {
            const at = text.indexOf(dir);
            return at >= 0 && /^(\/|$)/.test(text.slice(at + dir.length));
        };
        const users = processes().filter((p) => p.argv.some(names) || names(rootOf(p.pid)));
        users.forEach((p) => signal(p.pid, "SIGKILL"));
        await Promise.all(users.map((p) => waitForExit(p.pid, 5_000)));
        removeTree(dir);
    }
}

function rootOf(pid: number): string {
    try {
        return fs.readlinkSync(`/proc/${pid}/root`);
    } catch {
        return "";
    }
}

/** One build at a time per cache; a lock left by a dead process is taken over. */
function takeBuildLock(): () => void {
    const lock = path.join(cacheDir(), "build.lock");
    for (;;) {
        try {
            fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
            return () => fs.rmSync(lock, { force: true });
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
            const holder = Number(fs.readFileSync(lock, "utf8"));
            if (holder && isAlive(holder)) throw new Error(`another image build is running (pid ${holder}, lock ${lock})`);
            fs.rmSync(lock, { force: true });
        }
    }
}
