/**
 * The site on the local cloud: renders every instance's user-data for the
 * `local` target from the same stack config `pulumi up` uses, enforces the
 * security groups the program registers, boots one container per instance
 * (databases with a data volume of their own), and waits until cloud-init is
 * done everywhere. Also the fault commands: stop, start, crash, cut, heal.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parseStackConfig, StackConfig } from "../../config";
import { allInstances, endpointAddresses, InstancePlan, TopologyPlan } from "../../topology";
import { vrrpPasswordLength } from "../../userdata/keepalived";
import { parameterNames, siteParameters, siteSettings } from "../../userdata/site";
import { planStack } from "../preview/plan";
import { loadStackConfig } from "../stackFile";
import * as container from "./container";
import { attachedDisks, destroyAllDisks, ensureDisk } from "./disks";
import { enforceSecurityGroups, rulesetFile, rulesetFor } from "./firewall";
import { ensureImage } from "./image";
import { httpRequest } from "./clients";
import { containerNetns, createInternet, createVpc, internetNetns, linkIsUp, ourNetns, setLink, vpcBlockOf, vpcNetns } from "./network";
import { AppliedInstance, applyRollout, describeRollout, desiredInstance, isEmpty, planRollout, sitePlan } from "./rollout";
import {
    awsEndpointAddress,
    getParameter,
    instanceIdOf,
    Parameter,
    PrivateZone,
    putParameters,
    resolvConfFile,
    startAwsApis,
    startResolver,
} from "./aws";
import { FirewallPlan, virtualAddress } from "./securityGroups";
import {
    cloudName,
    CommandTimeout,
    isAlive,
    log,
    mountsUnder,
    nspawnMarker,
    pollUntilReady,
    processes,
    run,
    sampleCpuPressure,
    selfSignedPem,
    stateDir,
    unsupportedReason,
} from "./util";

export interface LocalSite {
    stack: string;
    config: StackConfig;
    plan: TopologyPlan;
    /** Public address of each instance that has one in the program's plan, as the internet namespace reaches it. */
    publicIps: Record<string, string>;
    /** The site's public address: the Elastic IP, lb-1's or the load-balancer pair's (which maps to their virtual address). */
    publicAddress: string;
    /** The site at its public address, from the internet namespace. */
    url: string;
    /** What each instance was booted with (rollout.ts compares it with a changed stack); absent in sites of older versions. */
    applied?: Record<string, AppliedInstance>;
    /** Set once `up` has booted every instance: a later `up` then applies changes instead of starting over. */
    provisioned?: boolean;
    /** How the boot from nothing went: absent in sites of older versions and where cloud-init's records could not be read. */
    boot?: BootReport;
}

/** Where the time of a boot from nothing went. */
export interface BootReport {
    /** From the first container's start until the site answered at its public address. */
    seconds: number;
    /** The highest CPU pressure (PSI some avg10, %) seen during the boot. */
    peakCpuPressure: number | null;
    instances: Record<string, container.BootPhases>;
}

function siteFile(): string {
    return path.join(stateDir(), "site.json");
}

function lockFile(): string {
    return path.join(stateDir(), "up.lock");
}

/** The site that `up` booted, if any. */
export function currentSite(): LocalSite | undefined {
    try {
        return JSON.parse(fs.readFileSync(siteFile(), "utf8")) as LocalSite;
    } catch {
        return undefined;
    }
}

function saveSite(site: LocalSite): void {
    fs.writeFileSync(siteFile(), JSON.stringify(site, null, 2) + "\n");
}

/** One `up` at a time: a second one while the first runs is refused; a crashed one's lock is taken over. */
function takeLock(): () => void {
    fs.mkdirSync(stateDir(), { recursive: true });
    try {
        const holder = Number(fs.readFileSync(lockFile(), "utf8"));
        if (holder && holder !== process.pid && fs.existsSync(`/proc/${holder}`)) {
            throw new Error(`another local:up (pid ${holder}) is running; wait for it, or run npm run local:down`);
        }
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    fs.writeFileSync(lockFile(), String(process.pid));
    return () => fs.rmSync(lockFile(), { force: true });
}

/**
 * What the deploy puts in Parameter Store, put in the emulated one: the generated secrets (SecureString) and the
 * published settings (the load balancer's HAProxy configuration), from the same renderer.
 */
async function seedParameters(config: StackConfig): Promise<void> {
    const names = parameterNames(config.stack);
    const password = () =>
        crypto
            .randomBytes(24)
            .toString("base64")
            .replace(/[^A-Za-z0-9]/g, "")
            .slice(0, 32);
    const secret = (name: string, value: string): Parameter => ({ name, value, type: "SecureString" });
    const parameters: Parameter[] = [
        secret(names.appPassword, password()),
        secret(names.replicationPassword, password()),
        ...(config.monitoring ? [secret(names.exporterPassword, password())] : []),
        ...(config.lbCount > 1 ? [secret(names.vrrpPassword, password().slice(0, vrrpPasswordLength))] : []),
        ...(config.https !== "none" ? [secret(names.tlsPem, selfSignedPem("www.foobar.com", 30))] : []),
        ...Object.entries(siteParameters(siteSettings(config, sitePlan(config)))).map(([name, value]): Parameter => ({
            name,
            value,
            type: "String",
        })),
    ];
    await putParameters(config.region, parameters);
}

/** The emulated AWS the instances call (aws.ts): the APIs at their endpoint names, and the VPC resolver that names them. */
async function startAws(config: StackConfig, plan: TopologyPlan): Promise<void> {
    await startAwsApis(config.region);
    await startResolver(config.vpcCidr, privateZone(config, plan));
}

/** The private hosted zone the program creates for a plan: the database endpoints' names (none with Galera's sidecars). */
function privateZone(config: StackConfig, plan: TopologyPlan): PrivateZone {
    return { name: config.internalZone, records: endpointAddresses(plan) };
}

/** cloud-init's event for the role's packages (package_update and packages:). */
const PACKAGES_EVENT = "modules-final/config-package-update-upgrade-install";

const elapsed = (start: number) => `${((Date.now() - start) / 1000).toFixed(1)} s`;

export interface UpOptions {
    /** Per-instance limit for cloud-init to finish. */
    cloudInitTimeoutMs?: number;
}

/**
 * Boots the stack's topology. On a running site of the same stack, applies what changed in its
 * stack file the way the deploy does (rollout.ts); when nothing changed, it says so and returns it.
 */
export async function up(stack: string, opts: UpOptions = {}): Promise<LocalSite> {
    const reason = unsupportedReason();
    if (reason) throw new Error(`${reason}; run: bash scripts/setup.sh`);
    const file = loadStackConfig(stack);
    const config = parseStackConfig(file.project, stack, file.config);
    const release = takeLock();
    try {
        const existing = currentSite();
        const running = container.list();
        const allRunning = running.length > 0 && running.every((c) => c.running);
        // Sites of older versions have no `provisioned`: complete when every planned instance runs.
        if (existing && (existing.provisioned ?? (allRunning && running.length === allInstances(existing.plan).length))) {
            if (existing.stack !== stack)
                throw new Error(`the local cloud already runs stack ${existing.stack}; run npm run local:down first`);
            return await update(
                existing,
                config,
                running.filter((c) => c.running).map((c) => c.name),
            );
        }
        if (existing || running.length > 0) {
            log("removing what an earlier, unfinished local:up left behind");
            await down();
        }
        return await create(stack, config, opts);
    } finally {
        release();
    }
}

/**
 * What this cloud (LOCAL_CLOUD_NAME) still has on the host: containers, nspawn processes, network
 * namespaces (the nftables tables live in them), loop devices and mounts under its state dir.
 */
export function leftovers(): Record<string, unknown[]> {
    return {
        containers: container.list(),
        processes: processes().filter((p) => p.argv.includes(nspawnMarker()) && isAlive(p.pid)),
        namespaces: ourNetns(),
        loopDevices: attachedDisks(),
        mounts: mountsUnder(stateDir()),
    };
}

/**
 * Removes whatever an interrupted earlier run left in this cloud: a site recorded as up (`up` would
 * apply a change to it instead of booting anew), or anything `leftovers` finds. Says whether there
 * was anything.
 */
export async function removeLeftovers(): Promise<boolean> {
    if (currentSite() === undefined && Object.values(leftovers()).every((found) => found.length === 0)) return false;
    log(`removing what an earlier, interrupted run left in the local cloud ${cloudName()}`);
    await down();
    return true;
}

/** Boots the stack from nothing in a cloud a tool owns (each test suite's, the benchmark's). */
export async function upFromNothing(stack: string, opts: UpOptions = {}): Promise<LocalSite> {
    await removeLeftovers();
    return up(stack, opts);
}

/** Creates the site from nothing; on failure removes what it made. */
async function create(stack: string, config: StackConfig, opts: UpOptions): Promise<LocalSite> {
    const start = Date.now();
    try {
        const plan = sitePlan(config);
        log("plan: running the program under mocks for its security groups");
        const firewallRules = await planStack(stack);
        log("image: checking the cached Debian 12 root file system (a first build takes minutes)");
        const image = await ensureImage();
        log(`image: ${image.built ? "built" : "cached"} (${image.root})`);
        const vpc = createVpc(plan.cidrBlocks);
        createInternet();
        const firewall = enforceSecurityGroups(firewallRules);
        log(`AWS: moto's server at the ${config.region} endpoint names (${awsEndpointAddress}), the VPC resolver, Parameter Store seeded`);
        await startAws(config, plan);
        await seedParameters(config);
        const publicIps = publicAddresses(plan, firewall);
        log(
            `network: VPC ${vpc.map((b) => b.cidr).join(" + ")} in namespace ${vpcNetns()}, security groups enforced (${rulesetFile()}), internet in ${internetNetns()}`,
        );

        const publicAddress = sitePublicAddress(plan, firewall);
        const site: LocalSite = {
            stack,
            config,
            plan,
            publicIps,
            publicAddress,
            url: siteUrl(config, publicAddress),
            applied: {},
            provisioned: false,
        };
        saveSite(site);
        const instances = allInstances(plan);
        const bootStart = Date.now();
        const pressure = sampleCpuPressure();
        try {
            // In two waves: the database servers first. Their setup (a Galera node's join, a replica's copy) is the boot's
            // longest chain, so on a small host the CPU goes to their packages first; the rest start once those are in.
            const databases = instances.filter((i) => i.role.startsWith("db"));
            for (const instance of databases) await startInstance(site, instance.name);
            await pollUntilReady({
                what: "the database servers' packages",
                timeoutMs: opts.cloudInitTimeoutMs ?? 600_000,
                intervalMs: 1000,
                probe: async () => {
                    const waiting = databases.filter((i) => !container.cloudInitPassed(i.name, PACKAGES_EVENT)).map((i) => i.name);
                    return waiting.length === 0 ? { ready: true } : { notYet: `installing on ${waiting.join(", ")}` };
                },
            });
            log(`the database servers have their packages after ${elapsed(start)}: starting the others`);
            for (const instance of instances.filter((i) => !databases.includes(i))) await startInstance(site, instance.name);
            await Promise.all(instances.map((i) => waitUntilProvisioned(i.name, opts.cloudInitTimeoutMs ?? 600_000, start)));
            await waitForLoadBalancer(site, 60_000);
        } finally {
            site.boot = {
                seconds: Math.round((Date.now() - bootStart) / 100) / 10,
                peakCpuPressure: pressure.stop() ?? null,
                instances: {},
            };
        }
        site.boot.instances = await bootPhasesOf(instances.map((i) => i.name));
        logBootReport(site.boot);
        // The returned site is saved again by startInstance (a restart): it must say it is complete, or the next up starts over.
        site.provisioned = true;
        saveSite(site);
        log(`up: the ${stack} topology answers at ${site.url} after ${elapsed(start)}`);
        return site;
    } catch (err) {
        log(`up failed after ${elapsed(start)}; removing what it made (console logs stay in ${path.join(stateDir(), "logs")})`);
        await down();
        throw err;
    }
}

/** Each instance's boot phases; a record that cannot be read is logged and left out (the figures are a report, not a gate). */
async function bootPhasesOf(names: string[]): Promise<Record<string, container.BootPhases>> {
    const phases: Record<string, container.BootPhases> = {};
    for (const name of names) {
        try {
            phases[name] = await container.bootPhases(name);
        } catch (err) {
            log(`${name}: no boot figures (${(err as Error).message})`);
        }
    }
    return phases;
}

function logBootReport(boot: BootReport): void {
    const pressure = boot.peakCpuPressure === null ? "no PSI on this kernel" : `${boot.peakCpuPressure.toFixed(0)} %`;
    log(`boot: ${boot.seconds} s until the site answered; peak CPU pressure ${pressure}; per instance (seconds):`);
    log("  instance       until cloud-init  packages  setup scripts  total");
    for (const [name, p] of Object.entries(boot.instances)) {
        log(
            `  ${name.padEnd(14)} ${String(p.untilCloudInit).padStart(16)}  ${String(p.packages).padStart(8)}  ${String(p.setupScripts).padStart(13)}  ${String(p.total).padStart(5)}`,
        );
    }
}

/**
 * Applies a changed stack file to the running site (rollout.ts), or says it is already up. A
 * failed step throws with what it left; the site keeps serving and the next `up` continues.
 */
async function update(existing: LocalSite, config: StackConfig, running: string[]): Promise<LocalSite> {
    const start = Date.now();
    const plan = sitePlan(config);
    log("plan: running the program under mocks for its security groups");
    const offline = await planStack(existing.stack);
    const { firewall, ruleset } = rulesetFor(offline);
    // A new block (the third zone's) needs its router address before an instance boots in it.
    createVpc(plan.cidrBlocks);
    // The private zone's records follow the plan, as the deploy changes them before the instances that use them.
    await startResolver(config.vpcCidr, privateZone(config, plan));
    // Sites of older versions recorded no user-data: what their saved config renders stands for it.
    const applied = existing.applied ?? Object.fromEntries(allInstances(existing.plan).map((i) => [i.name, desiredInstance(existing, i)]));
    const current: LocalSite = { ...existing, applied };
    const publicAddress = sitePublicAddress(plan, firewall);
    const desired: LocalSite = {
        ...current,
        config,
        plan,
        publicIps: publicAddresses(plan, firewall),
        publicAddress,
        url: siteUrl(config, publicAddress),
        provisioned: true,
    };
    const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined);
    const rollout = planRollout(current, desired, {
        running,
        publishedLbConfig: await getParameter(config.region, parameterNames(config.stack).lbConfig),
        ruleset: { loaded: read(rulesetFile()), desired: ruleset },
    });
    if (isEmpty(rollout)) {
        await waitForLoadBalancer(existing, 10_000);
        if (JSON.stringify(existing) !== JSON.stringify(desired)) saveSite(desired);
        for (const name of rollout.ignoredDatabases)
            log(`${name}: its user-data or instance type changed; ignored (a database server is never replaced)`);
        log(`the ${existing.stack} topology is already up at ${existing.url}`);
        return desired;
    }
    log(`rollout of ${existing.stack}: ${describeRollout(rollout)}`);
    saveSite(desired);
    await applyRollout(current, desired, rollout, {
        start: (name) => startInstance(desired, name),
        provisioned: (name) => waitUntilProvisioned(name, 600_000, start),
        forget: (name) => {
            delete desired.applied![name];
            saveSite(desired);
        },
        lbAnswers: () => waitForLoadBalancer(desired, 60_000),
        loadSecurityGroups: () => void enforceSecurityGroups(offline),
    });
    await waitForLoadBalancer(desired, 10_000);
    log(`up: the change to ${existing.stack} is applied after ${elapsed(start)}; the site answers at ${desired.url}`);
    return desired;
}

/**
 * The public addresses the firewall maps, by instance; the plan's instances must be the
 * topology's, address for address, or the rules would guard the wrong containers.
 */
function publicAddresses(plan: TopologyPlan, firewall: FirewallPlan): Record<string, string> {
    const expected = allInstances(plan)
        .map((i) => `${i.name} ${i.privateIp}`)
        .sort();
    const planned = firewall.instances.map((i) => `${i.name} ${i.privateIp}`).sort();
    if (JSON.stringify(expected) !== JSON.stringify(planned)) {
        throw new Error(`the program's instances (${planned.join(", ")}) are not the topology's (${expected.join(", ")})`);
    }
    return Object.fromEntries(firewall.instances.filter((i) => i.publicIp).map((i) => [i.name, i.publicIp!]));
}

/** The Elastic IP: the load-balancer pair's floating one, or the single load balancer's. */
function sitePublicAddress(plan: TopologyPlan, firewall: FirewallPlan): string {
    const address = firewall.floating?.publicIp ?? firewall.instances.find((i) => i.name === plan.lbs[0].name)?.publicIp;
    if (!address) throw new Error(`the plan gives the load balancer ${plan.lbs[0].name} no public address`);
    if ((firewall.floating !== undefined) !== plan.lbs.length > 1) {
        throw new Error(`the plan's Elastic IP does not match the topology's ${plan.lbs.length} load balancer(s)`);
    }
    return address;
}

function siteUrl(config: StackConfig, publicAddress: string): string {
    return `${config.https === "none" ? "http" : "https"}://${publicAddress}/`;
}

function instanceOf(site: LocalSite, name: string): InstancePlan {
    const instance = allInstances(site.plan).find((i) => i.name === name);
    if (!instance) {
        throw new Error(
            `no instance ${name} in the ${site.stack} topology (instances: ${allInstances(site.plan)
                .map((i) => i.name)
                .join(", ")})`,
        );
    }
    return instance;
}

/**
 * Boots one instance of the site with its `local` user-data; a database gets its data volume
 * (the same one again after a stop or crash). Used by `up`, and to bring a stopped instance back.
 */
export async function startInstance(site: LocalSite, name: string): Promise<void> {
    const instance = instanceOf(site, name);
    // A crashed instance's network and state are still there: clean up first, as a stop would have.
    if (container.isKnown(name) && !container.list().find((c) => c.name === name)?.running) await container.stop(name);
    const dataDevice = instance.role.startsWith("db") ? ensureDisk(name, site.config.dbVolumeSizeGiB) : undefined;
    await container.start({
        name,
        address: instance.privateIp,
        // Sites of older versions recorded no blocks: theirs is the VPC's one.
        vpc: vpcBlockOf(instance.privateIp, site.plan.cidrBlocks ?? [site.config.vpcCidr]),
        userData: desiredInstance(site, instance, dataDevice).userData,
        identity: {
            instanceId: instanceIdOf(cloudName(), name),
            region: site.config.region,
            availabilityZone: `${site.config.region}${instance.subnet.name.slice(-1)}`,
            roleName: `foobar-${site.stack}-${instance.role.startsWith("db") ? "db" : instance.role}`,
        },
        resolvConf: resolvConfFile(),
        devices: dataDevice ? [dataDevice] : [],
    });
    site.applied = { ...site.applied, [name]: desiredInstance(site, instance) };
    saveSite(site);
    log(`${name}: booting (${instance.role}, ${instance.privateIp}${dataDevice ? `, data volume ${dataDevice}` : ""})`);
}

/** The site `up` booted; the fault commands need one. */
export function requireSite(): LocalSite {
    const site = currentSite();
    if (!site) throw new Error("no local site is up (start one with npm run local:up -- --stack dev)");
    return site;
}

export type Fault = "stop" | "start" | "crash" | "cut" | "heal";

/** Faults on demand: clean shutdown, boot again (same disks), kill without shutdown, network away, network back. */
export async function injectFault(fault: Fault, name: string): Promise<void> {
    const site = requireSite();
    instanceOf(site, name);
    switch (fault) {
        case "stop":
            await container.stop(name);
            return;
        case "start":
            if (container.list().find((c) => c.name === name)?.running) throw new Error(`${name} is already running`);
            await startInstance(site, name);
            await waitUntilProvisioned(name, 600_000);
            return;
        case "crash":
            if (!container.list().find((c) => c.name === name)?.running) throw new Error(`${name} is not running`);
            // A crashed host answers nothing, not even ARP or a TCP reset; here its namespace outlives its processes and would
            // refuse connections at once (and keep a virtual address it held), so its port goes down first, until it boots again.
            setLink(name, false);
            await container.crash(name);
            return;
        case "cut":
        case "heal":
            if (!container.list().find((c) => c.name === name)?.running) throw new Error(`${name} is not running`);
            setLink(name, fault === "heal");
            return;
    }
}

/** Waits for cloud-init to finish on an instance; any error or degraded module fails. */
export async function waitUntilProvisioned(name: string, timeoutMs: number, since = Date.now()): Promise<void> {
    const status = await container.waitForCloudInit(name, timeoutMs);
    if (status.status !== "done" || status.errors.length > 0 || Object.keys(status.recoverable_errors).length > 0) {
        const output = await container.exec(name, ["tail", "-n", "40", "/var/log/cloud-init-output.log"], { check: false });
        throw new Error(
            `${name}: cloud-init ${status.status}: ${[...status.errors, ...Object.values(status.recoverable_errors).flat()].join("; ")}\n${output.stdout}`,
        );
    }
    log(`${name}: ready (cloud-init done after ${elapsed(since)})`);
}

async function waitForLoadBalancer(site: LocalSite, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        let answer: string;
        try {
            const r = await httpRequest("GET", `${site.url}healthz`, { timeoutSeconds: 2 });
            if (r.status === 200) return;
            answer = `HTTP ${r.status}`;
        } catch (err) {
            answer = (err as Error).message;
        }
        if (Date.now() > deadline) {
            const holders = site.plan.lbs.length > 1 ? await siteAddressHolders(site) : undefined;
            const held =
                holders === undefined
                    ? ""
                    : holders.length === 0
                      ? `; no load balancer holds the site's address (keepalived's log: journalctl -u keepalived on ${site.plan.lbs.map((l) => l.name).join(" and ")})`
                      : `; held by ${holders.join(" and ")}`;
            throw new Error(`the load balancer does not answer at ${site.url}: ${answer}${held}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
    }
}

export interface InstanceStatus {
    name: string;
    role: string;
    privateIp: string;
    /** null when the instance has no public address. */
    publicIp: string | null;
    running: boolean;
    /** false while the instance's network is cut. */
    networkUp: boolean;
    cloudInit: string;
    service: string;
    /** The site's public address, on the load balancer that holds it (the VRRP master of a pair); null elsewhere. */
    siteAddress: string | null;
}

/**
 * Whether a running load balancer holds the site's address: a pair's master has the virtual address on its
 * interface. Read from the host in the instance's network namespace: instant, however busy the instance is.
 */
export async function holdsSiteAddress(site: LocalSite, name: string): Promise<boolean> {
    if (site.plan.lbs.length === 1) return site.plan.lbs[0].name === name;
    const vip = virtualAddress(site.plan.lbs[0].subnet.cidr);
    const r = await run("ip", ["-n", containerNetns(name), "-4", "-o", "addr", "show", "dev", "eth0"], { check: false, timeoutMs: 5_000 });
    return r.stdout.split(/\s+/).includes(`${vip}/32`);
}

/** The running load balancers that hold the site's address now: one, or two while VRRP between them is cut. */
export async function siteAddressHolders(site: LocalSite): Promise<string[]> {
    const running = new Set(
        container
            .list()
            .filter((c) => c.running)
            .map((c) => c.name),
    );
    const found: string[] = [];
    for (const lb of site.plan.lbs) if (running.has(lb.name) && (await holdsSiteAddress(site, lb.name))) found.push(lb.name);
    return found;
}

/** The load balancer that holds the site's address now (the first, lb-1 before lb-2), if one does. */
export async function siteAddressHolder(site: LocalSite): Promise<string | undefined> {
    return (await siteAddressHolders(site))[0];
}

const roleService: Record<InstancePlan["role"], string> = {
    lb: "haproxy",
    web: "foobar-app",
    "db-primary": "mariadb",
    "db-replica": "mariadb",
    "db-node": "mariadb",
    monitoring: "prometheus",
};

/** How long local:status waits for an instance's service manager before it reports the instance as busy. */
const STATUS_PROBE_TIMEOUT_MS = 1_500;

/**
 * Every instance of the site, running or not. Answers within seconds on a saturated host: cloud-init's
 * state is read from its records, and a service manager slow to answer reports "busy" instead of waiting.
 */
export async function status(): Promise<InstanceStatus[]> {
    const site = currentSite();
    const roles = new Map(site ? allInstances(site.plan).map((i) => [i.name, i.role]) : []);
    const known = new Set(container.list().map((c) => c.name));
    // Stopped instances of the site are listed too, as EC2 lists a stopped instance.
    const stopped = site ? allInstances(site.plan).filter((i) => !known.has(i.name)) : [];
    return Promise.all(
        container.list().map(async (c) => {
            const role = roles.get(c.name);
            let cloudInit = "-";
            let service = "-";
            let siteAddress: string | null = null;
            if (c.running) {
                cloudInit = container.cloudInitProgress(c.name);
                if (role) {
                    const unit = roleService[role];
                    try {
                        const s = await container.exec(c.name, ["systemctl", "is-active", unit], {
                            check: false,
                            timeoutMs: STATUS_PROBE_TIMEOUT_MS,
                        });
                        service = `${unit} ${s.stdout.trim()}`;
                    } catch (err) {
                        if (!(err instanceof CommandTimeout)) throw err;
                        service = `${unit} busy (no answer within ${STATUS_PROBE_TIMEOUT_MS / 1000} s)`;
                    }
                }
                if (site && role === "lb" && (await holdsSiteAddress(site, c.name))) siteAddress = site.publicAddress;
            }
            return {
                name: c.name,
                role: role ?? "?",
                privateIp: c.address,
                publicIp: site?.publicIps[c.name] ?? null,
                running: c.running,
                networkUp: c.running && linkIsUp(c.name),
                cloudInit,
                service,
                siteAddress,
            };
        }),
    ).then((rows) =>
        [
            ...rows,
            ...stopped.map((i) => ({
                name: i.name,
                role: i.role,
                privateIp: i.privateIp,
                publicIp: site?.publicIps[i.name] ?? null,
                running: false,
                networkUp: false,
                cloudInit: "-",
                service: "-",
                siteAddress: null,
            })),
        ].sort((a, b) => a.name.localeCompare(b.name)),
    );
}

/** Removes every container, namespace (with its nftables tables), loop device and volume of this cloud. */
export async function down(): Promise<void> {
    await container.downAll();
    destroyAllDisks();
    fs.rmSync(siteFile(), { force: true });
    fs.rmSync(rulesetFile(), { force: true });
    // The emulated AWS's state (its daemons went with the namespaces).
    fs.rmSync(path.join(stateDir(), "aws"), { recursive: true, force: true });
}
