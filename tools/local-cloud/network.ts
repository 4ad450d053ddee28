/**
 * The local cloud's network: a network namespace of the project's own holds a bridge,
 * the "VPC". Each container gets a namespace of its own with one veth into that bridge,
 * made before the container starts and handed to systemd-nspawn by path
 * (nspawn's --network-veth/--network-bridge only reach bridges in the host's namespace).
 *
 * A third namespace stands for the internet: one veth links it to the VPC namespace, which
 * routes between the two like an internet gateway (see securityGroups.ts for its rules).
 * Clients that stand for users run there (see internetCommand); inVpc runs a command at the
 * VPC router's own address.
 *
 * Nothing links these namespaces to the host's: no route, no NAT, no veth to the host.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import { cidrWithin, intToIp, ipToInt, parseCidr } from "../../config";
import { cloudName, processes, run, RunResult, runSync, signal, tryRunSync } from "./util";

export const BRIDGE = "vpc0";
/** The VPC namespace's end of the link to the internet namespace. */
export const GATEWAY = "igw0";

/**
 * The link between the VPC router and the internet namespace (RFC 5737 TEST-NET-1): the
 * router's end, and the address clients on the internet use. Public addresses
 * (securityGroups.ts) are routed over it.
 */
export const internetLink = { prefixLength: 24, router: "192.0.2.1", client: "192.0.2.10" };

/** The VPC's namespace, named after the cloud. */
export function vpcNetns(): string {
    return `${cloudName()}-vpc`;
}

/** The internet's namespace, named after the cloud. */
export function internetNetns(): string {
    return `${cloudName()}-internet`;
}

/** Container namespaces are named `${containerNetnsPrefix()}<name>`. */
function containerNetnsPrefix(): string {
    return `${cloudName()}-ct-`;
}

/** One IPv4 block of the VPC (the primary, or a secondary such as the third zone's). */
export interface Vpc {
    cidr: string;
    prefixLength: number;
    /** The bridge's address in the block: its first host, the default gateway of every container in the block. */
    gateway: string;
}

/** Parses an IPv4 CIDR such as "10.0.0.0/16" (host bits clear, /8 to /29) into the VPC block it describes. */
export function vpcFromCidr(cidr: string): Vpc {
    const { base, prefix } = parseCidr("VPC CIDR", cidr, 8, 29);
    return { cidr, prefixLength: prefix, gateway: intToIp(base + 1) };
}

/**
 * The block of the VPC that holds an address. An instance's on-link network is its block; the VPC namespace
 * routes between blocks, as the VPC router does between a VPC's CIDR blocks.
 */
export function vpcBlockOf(address: string, cidrs: readonly string[]): Vpc {
    const block = cidrs.map(vpcFromCidr).find((b) => cidrWithin(`${address}/32`, b.cidr));
    if (!block) throw new Error(`address ${address} is in none of the VPC's blocks (${cidrs.join(", ")})`);
    return block;
}

export function netnsPath(netns: string): string {
    return `/run/netns/${netns}`;
}

export function containerNetns(name: string): string {
    return containerNetnsPrefix() + name;
}

/** Every network namespace this cloud made (VPC and containers), also of a crashed run. */
export function ourNetns(): string[] {
    return runSync("ip", ["netns", "list"])
        .split("\n")
        .map((line) => line.split(" ")[0])
        .filter((n) => n === vpcNetns() || n === internetNetns() || n.startsWith(containerNetnsPrefix()));
}

/** Creates the VPC namespace and its bridge, with a router address in each of the VPC's blocks (primary first). Idempotent. */
export function createVpc(cidrs: readonly string[]): Vpc[] {
    const blocks = cidrs.map(vpcFromCidr);
    addNetns(vpcNetns());
    // Test clients in the namespace may use loopback too.
    runSync("ip", ["-n", vpcNetns(), "link", "set", "lo", "up"]);
    if (!tryRunSync("ip", ["-n", vpcNetns(), "link", "show", BRIDGE])) {
        runSync("ip", ["-n", vpcNetns(), "link", "add", BRIDGE, "type", "bridge"]);
    }
    // Addresses already right are left alone: running containers keep their gateway.
    const wanted = blocks.map((b) => `${b.gateway}/${b.prefixLength}`);
    const present = runSync("ip", ["-n", vpcNetns(), "-4", "-o", "addr", "show", "dev", BRIDGE])
        .split("\n")
        .map((line) => /\sinet (\S+)/.exec(line)?.[1])
        .filter((a): a is string => a !== undefined);
    for (const address of present.filter((a) => !wanted.includes(a)))
        runSync("ip", ["-n", vpcNetns(), "addr", "del", address, "dev", BRIDGE]);
    for (const address of wanted.filter((a) => !present.includes(a)))
        runSync("ip", ["-n", vpcNetns(), "addr", "add", address, "dev", BRIDGE]);
    runSync("ip", ["-n", vpcNetns(), "link", "set", BRIDGE, "up"]);
    return blocks;
}

/**
 * Creates the internet namespace and links it to the VPC namespace's router, which forwards
 * between the two only once a firewall is loaded (enableForwarding). Idempotent.
 */
export function createInternet(): void {
    addNetns(internetNetns());
    runSync("ip", ["-n", internetNetns(), "link", "set", "lo", "up"]);
    if (!tryRunSync("ip", ["-n", internetNetns(), "link", "show", "eth0"])) {
        tryRunSync("ip", ["-n", vpcNetns(), "link", "del", GATEWAY]);
        runSync("ip", ["-n", vpcNetns(), "link", "add", GATEWAY, "type", "veth", "peer", "name", "eth0", "netns", internetNetns()]);
    }
    const { router, client, prefixLength } = internetLink;
    runSync("ip", ["-n", vpcNetns(), "addr", "replace", `${router}/${prefixLength}`, "dev", GATEWAY]);
    runSync("ip", ["-n", vpcNetns(), "link", "set", GATEWAY, "up"]);
    runSync("ip", ["-n", internetNetns(), "addr", "replace", `${client}/${prefixLength}`, "dev", "eth0"]);
    runSync("ip", ["-n", internetNetns(), "link", "set", "eth0", "up"]);
    runSync("ip", ["-n", internetNetns(), "route", "replace", "default", "via", router]);
}

/**
 * Makes the VPC namespace a router: bridged IPv4 passes its netfilter hooks (br_netfilter),
 * so the security groups see instance-to-instance traffic too, and IPv4 is forwarded.
 * Call only after a ruleset with a default-deny forward chain is loaded.
 */
export function enableForwarding(): void {
    // Between the VPC's blocks the router forwards out of the bridge it came in by; no ICMP redirect may tell an
    // instance to skip it (the VPC router sends none).
    const noRedirects = ["all", BRIDGE].map((dev) => `net.ipv4.conf.${dev}.send_redirects=0`);
    runSync("ip", [
        "netns",
        "exec",
        vpcNetns(),
        "sysctl",
        "-q",
        "-w",
        "net.bridge.bridge-nf-call-iptables=1",
        "net.ipv4.ip_forward=1",
        ...noRedirects,
    ]);
}

/** Removes the VPC namespace; the bridge and the VPC ends of all veths go with it. Idempotent. */
export function destroyVpc(): void {
    deleteNetns(internetNetns());
    deleteNetns(vpcNetns());
}

/**
 * Gives container `name` a namespace whose eth0 is a veth into the bridge, with a static
 * address and the bridge as default gateway. Returns the namespace's path for
 * `systemd-nspawn --network-namespace-path=`. Idempotent.
 */
export function attach(name: string, address: string, vpc: Vpc): string {
    checkAddress(address, vpc);
    const netns = containerNetns(name);
    const hostEnd = bridgePort(name);
    addNetns(netns);
    if (!tryRunSync("ip", ["-n", netns, "link", "show", "eth0"])) {
        tryRunSync("ip", ["-n", vpcNetns(), "link", "del", hostEnd]);
        runSync("ip", ["-n", vpcNetns(), "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", netns]);
    }
    runSync("ip", ["-n", vpcNetns(), "link", "set", hostEnd, "master", BRIDGE, "up"]);
    // Like an ENI, an instance keeps its MAC across stop and start, so peers' ARP caches stay valid.
    runSync("ip", ["-n", netns, "link", "set", "eth0", "address", macFor(address)]);
    runSync("ip", ["-n", netns, "link", "set", "lo", "up"]);
    runSync("ip", ["-n", netns, "addr", "flush", "dev", "eth0"]);
    runSync("ip", ["-n", netns, "addr", "add", `${address}/${vpc.prefixLength}`, "dev", "eth0"]);
    runSync("ip", ["-n", netns, "link", "set", "eth0", "up"]);
    runSync("ip", ["-n", netns, "route", "replace", "default", "via", vpc.gateway]);
    return netnsPath(netns);
}

/** A locally administered MAC derived from the address: 02:fb:a.b.c.d. */
export function macFor(address: string): string {
    return ["02", "fb", ...address.split(".").map((o) => Number(o).toString(16).padStart(2, "0"))].join(":");
}

/** Removes every namespace this cloud made, with what runs in them (for `down`). */
export function destroyAllNetworks(): void {
    for (const netns of ourNetns()) deleteNetns(netns);
}

/** Removes container `name`'s namespace and veth. Idempotent. */
export function detach(name: string): void {
    tryRunSync("ip", ["-n", vpcNetns(), "link", "del", bridgePort(name)]);
    deleteNetns(containerNetns(name));
}

/**
 * Takes an instance's network away (cut) or gives it back: its bridge port goes down or up.
 * The port is in the VPC namespace, out of the instance's reach, like a pulled cable.
 */
export function setLink(name: string, up: boolean): void {
    runSync("ip", ["-n", vpcNetns(), "link", "set", bridgePort(name), up ? "up" : "down"]);
}

/** Whether an instance's bridge port is up (false when it was cut, or has no port). */
export function linkIsUp(name: string): boolean {
    try {
        return /[<,]UP[,>]/.test(runSync("ip", ["-n", vpcNetns(), "-o", "link", "show", bridgePort(name)]));
    } catch {
        return false;
    }
}

/** Prefixes a command so that it runs inside the VPC namespace, at the router's address (a client with no security group). */
export function vpcCommand(cmd: readonly string[]): string[] {
    return ["ip", "netns", "exec", vpcNetns(), ...cmd];
}

/** Runs a command in the VPC namespace; never throws on its exit code. */
export function inVpc(cmd: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    const [bin, ...args] = vpcCommand(cmd);
    return run(bin, args, { check: false, timeoutMs });
}

/** Prefixes a command so that it runs in the internet namespace, where users stand (tests, benchmarks, a person). */
export function internetCommand(cmd: readonly string[]): string[] {
    return ["ip", "netns", "exec", internetNetns(), ...cmd];
}

/** Runs a command in the internet namespace; never throws on its exit code. */
export function inInternet(cmd: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    const [bin, ...args] = internetCommand(cmd);
    return run(bin, args, { check: false, timeoutMs });
}

/** Pids of the processes whose network namespace is `netns`. */
export function processesIn(netns: string): number[] {
    let inode: number;
    try {
        inode = fs.statSync(netnsPath(netns)).ino;
    } catch {
        return [];
    }
    return processes()
        .map((p) => p.pid)
        .filter((pid) => {
            try {
                return fs.readlinkSync(`/proc/${pid}/ns/net`) === `net:[${inode}]`;
            } catch {
                return false;
            }
        });
}

/**
 * Deletes a namespace after killing what still runs in it; otherwise the namespace (and its
 * interfaces) would outlive its name. Callers stop containers gracefully before this.
 */
function deleteNetns(netns: string): void {
    if (!fs.existsSync(netnsPath(netns))) return;
    for (const pid of processesIn(netns)) signal(pid, "SIGKILL");
    runSync("ip", ["netns", "del", netns]);
}

function addNetns(netns: string): void {
    if (!fs.existsSync(netnsPath(netns))) runSync("ip", ["netns", "add", netns]);
}

/** The bridge-side end's name (the instance's bridge port): interface names hold at most 15 characters. */
export function bridgePort(name: string): string {
    return name.length <= 12 ? `ve-${name}` : `ve-${createHash("sha1").update(name).digest("hex").slice(0, 12)}`;
}

function checkAddress(address: string, vpc: Vpc): void {
    const network = ipToInt(vpc.cidr.split("/")[0]);
    const octet = "(25[0-5]|2[0-4]\\d|1?\\d?\\d)";
    const ip = new RegExp(`^${octet}(\\.${octet}){3}$`).test(address) ? ipToInt(address) : NaN;
    const broadcast = network + 2 ** (32 - vpc.prefixLength) - 1;
    if (!(ip > network + 1 && ip < broadcast)) {
        throw new Error(`address ${address} is not a usable host address of ${vpc.cidr} (the gateway ${vpc.gateway} is taken)`);
    }
}
