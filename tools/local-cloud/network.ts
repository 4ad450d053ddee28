/**
 * The local cloud's network: a network namespace of the project's own holds a bridge,
 * the "VPC". Each container gets a namespace of its own with one veth into that bridge,
 * made before the container starts and handed to systemd-nspawn by path
 * (nspawn's --network-veth/--network-bridge only reach bridges in the host's namespace).
 *
 * Nothing links these namespaces to the host's: no route, no NAT, no veth to the host.
 * Test clients run inside the VPC namespace (see vpcCommand).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import { cloudName, processes, run, RunResult, runSync, signal, tryRunSync } from "./util";

export const BRIDGE = "vpc0";

/** The VPC's namespace, named after the cloud. */
export function vpcNetns(): string {
    return `${cloudName()}-vpc`;
}

/** Container namespaces are named `${containerNetnsPrefix()}<name>`. */
function containerNetnsPrefix(): string {
    return `${cloudName()}-ct-`;
}

export interface Vpc {
    cidr: string;
    prefixLength: number;
    /** The bridge's address: the first host of the CIDR, every container's default gateway. */
    gateway: string;
}

/** Parses an IPv4 CIDR such as "10.0.0.0/16" into the VPC it describes. */
export function vpcFromCidr(cidr: string): Vpc {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
    const prefixLength = m ? Number(m[2]) : NaN;
    if (!m || !(prefixLength >= 8 && prefixLength <= 29)) {
        throw new Error(`VPC CIDR ${JSON.stringify(cidr)} is not an IPv4 CIDR with a prefix of /8 to /29`);
    }
    // >>> 0 keeps the result unsigned (JavaScript's bitwise operators work on signed 32 bits).
    const network = (ipToInt(m[1]) & mask(prefixLength)) >>> 0;
    return { cidr: `${intToIp(network)}/${prefixLength}`, prefixLength, gateway: intToIp(network + 1) };
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
        .filter((n) => n === vpcNetns() || n.startsWith(containerNetnsPrefix()));
}

/** Creates the VPC namespace and its bridge, or brings them to the given CIDR. Idempotent. */
export function createVpc(cidr: string): Vpc {
    const vpc = vpcFromCidr(cidr);
    addNetns(vpcNetns());
    // Test clients in the namespace may use loopback too.
    runSync("ip", ["-n", vpcNetns(), "link", "set", "lo", "up"]);
    if (!tryRunSync("ip", ["-n", vpcNetns(), "link", "show", BRIDGE])) {
        runSync("ip", ["-n", vpcNetns(), "link", "add", BRIDGE, "type", "bridge"]);
    }
    const address = `${vpc.gateway}/${vpc.prefixLength}`;
    // Left alone when already right: running containers keep their gateway.
    if (!runSync("ip", ["-n", vpcNetns(), "-4", "-o", "addr", "show", "dev", BRIDGE]).includes(` ${address} `)) {
        runSync("ip", ["-n", vpcNetns(), "addr", "flush", "dev", BRIDGE]);
        runSync("ip", ["-n", vpcNetns(), "addr", "add", address, "dev", BRIDGE]);
    }
    runSync("ip", ["-n", vpcNetns(), "link", "set", BRIDGE, "up"]);
    return vpc;
}

/** Removes the VPC namespace; the bridge and the VPC ends of all veths go with it. Idempotent. */
export function destroyVpc(): void {
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
    const hostEnd = vethName(name);
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
    tryRunSync("ip", ["-n", vpcNetns(), "link", "del", vethName(name)]);
    deleteNetns(containerNetns(name));
}

/** Prefixes a command so that it runs inside the VPC namespace (test clients, load generators). */
export function vpcCommand(cmd: readonly string[]): string[] {
    return ["ip", "netns", "exec", vpcNetns(), ...cmd];
}

/** Runs a command in the VPC namespace, where the instances' addresses are reachable; never throws on its exit code. */
export function inVpc(cmd: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    const [bin, ...args] = vpcCommand(cmd);
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

/** The bridge-side end's name: interface names hold at most 15 characters. */
function vethName(name: string): string {
    return name.length <= 12 ? `ve-${name}` : `ve-${createHash("sha1").update(name).digest("hex").slice(0, 12)}`;
}

function checkAddress(address: string, vpc: Vpc): void {
    const network = ipToInt(vpc.cidr.split("/")[0]);
    const ip = /^\d+\.\d+\.\d+\.\d+$/.test(address) ? ipToInt(address) : NaN;
    const broadcast = network + 2 ** (32 - vpc.prefixLength) - 1;
    if (!(ip > network + 1 && ip < broadcast)) {
        throw new Error(`address ${address} is not a usable host address of ${vpc.cidr} (the gateway ${vpc.gateway} is taken)`);
    }
}

function ipToInt(ip: string): number {
    const parts = ip.split(".").map(Number);
    if (parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad IPv4 address ${ip}`);
    return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function intToIp(n: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

function mask(prefixLength: number): number {
    return (0xffffffff << (32 - prefixLength)) >>> 0;
}
