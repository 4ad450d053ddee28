/**
 * The load-balancer pair failing, under a steady load through the site's public address (steadyLoad.py,
 * from the internet namespace): the load balancer that holds the address stopped, crashed, cut off, or its
 * HAProxy stopped, and VRRP between the two cut. What clients saw, when the other took the address, and
 * what happened when the failed one came back. The local-cloud suite asserts bounds on these figures;
 * `npm run bench:local` records them.
 */
import * as container from "../local-cloud/container";
import { inVpc } from "../local-cloud/network";
import { injectFault, LocalSite, siteAddressHolders, waitUntilProvisioned } from "../local-cloud/site";
import { sleep } from "../local-cloud/util";
import { failed, latency, LatencyMs, LoadRecord, steadyLoad, tracked } from "./webFaults";

export const lbFaults = ["clean-stop", "crash", "network-cut", "haproxy-stopped", "vrrp-cut"] as const;
export type LbFault = (typeof lbFaults)[number];

interface FaultSpec {
    what: string;
    inject(site: LocalSite, holder: string): Promise<void>;
    /** Undoes the fault once the address has moved (or, for vrrp-cut, after both claimed it). */
    heal(site: LocalSite, holder: string): Promise<void>;
}

/** A table of its own in the VPC namespace that drops VRRP (IP protocol 112) on the bridge, beside the security groups. */
const vrrpCutTable = "fault-vrrp-cut";

const faults: Record<LbFault, FaultSpec> = {
    "clean-stop": {
        what: "the load balancer holding the address shut down cleanly (local:stop), booted again later",
        inject: (_, holder) => injectFault("stop", holder),
        heal: (_, holder) => injectFault("start", holder),
    },
    crash: {
        what: "the load balancer holding the address killed without shutdown (local:crash), booted again later",
        inject: (_, holder) => injectFault("crash", holder),
        heal: (_, holder) => injectFault("start", holder),
    },
    "network-cut": {
        what: "the network of the load balancer holding the address cut (local:cut), given back later",
        inject: (_, holder) => injectFault("cut", holder),
        heal: (_, holder) => injectFault("heal", holder),
    },
    "haproxy-stopped": {
        what: "HAProxy alone stopped on the load balancer holding the address, started again later",
        inject: (_, holder) => systemctl(holder, "stop"),
        heal: (_, holder) => systemctl(holder, "start"),
    },
    "vrrp-cut": {
        what: "VRRP between the two load balancers dropped (both claim the address), then let through again",
        inject: async () => {
            const rules = `table bridge ${vrrpCutTable} {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n\t\tip protocol 112 drop\n\t}\n}\n`;
            const r = await inVpc(["sh", "-c", `printf '%s' "$0" | nft -f -`, rules]);
            if (r.code !== 0) throw new Error(`cannot drop VRRP: ${r.stderr}`);
        },
        heal: async () => {
            await inVpc(["nft", "delete", "table", "bridge", vrrpCutTable]);
        },
    },
};

async function systemctl(name: string, verb: "stop" | "start"): Promise<void> {
    await container.exec(name, ["systemctl", verb, "haproxy.service"], { timeoutMs: 30_000 });
}

export function describeLbFault(fault: LbFault): string {
    return faults[fault].what;
}

export interface LbFaultFigures {
    fault: LbFault;
    /** The load balancer that held the address before the fault, and the one that held it after. */
    holderBefore: string;
    holderAfter: string | null;
    /** From the fault until the other load balancer held the address; null if it never did. */
    takeoverMs: number | null;
    /** The longest time no request succeeded, around the fault: the site's time without service. */
    unservedMs: number;
    requests: number;
    failed: number;
    /** The distinct ways requests failed. */
    errors: string[];
    usualMs: LatencyMs;
    /** After the failed one came back (or VRRP was let through again): who held the address, and how many did. */
    holderAfterReturn: string | null;
    holdersAfterReturn: number;
    /** vrrp-cut only: how many held the address while VRRP was cut (2: the split brain the fault makes). */
    holdersDuringCut: number | null;
}

/** The load runs this long before the fault (the usual latency), and the fault lasts at least this long. */
const beforeFaultMs = 3000;
const holdMs = 8000;

/** The longest stretch between two successful answers, from the first request after `from`: the time without service. */
function longestGap(records: LoadRecord[], from: number): number {
    const ends = records
        .filter((r) => !failed(r))
        .map((r) => r.startMs + r.ms)
        .sort((a, b) => a - b);
    let longest = 0;
    let previous = ends.filter((e) => e <= from).pop() ?? from;
    for (const end of ends.filter((e) => e > from)) {
        longest = Math.max(longest, end - previous);
        previous = end;
    }
    return Math.round(longest);
}

/**
 * Fails the load balancer that holds the site's address in the given way under a steady load, waits for the
 * other to take the address, heals the fault, and checks who holds the address once the failed one is back.
 */
export async function runLbFault(site: LocalSite, fault: LbFault): Promise<LbFaultFigures> {
    if (site.plan.lbs.length < 2) throw new Error(`the ${site.stack} topology has one load balancer: nothing to fail over to`);
    const spec = faults[fault];
    const [holderBefore, ...others] = await siteAddressHolders(site);
    if (!holderBefore || others.length > 0)
        throw new Error(
            `before the ${fault} run, one load balancer must hold the address (held by: ${[holderBefore, ...others].join(", ") || "none"})`,
        );
    const loadSeconds = 20;
    const load = tracked(steadyLoad(site.url, loadSeconds, `lb-${fault}-${Date.now()}`));
    await sleep(beforeFaultMs);

    const faultAt = Date.now();
    let takeoverMs: number | null = null;
    let holderAfter: string | null = null;
    let holdersDuringCut: number | null = null;
    await spec.inject(site, holderBefore);
    const deadline = faultAt + 30_000;
    while (Date.now() < deadline) {
        const now = await siteAddressHolders(site);
        if (fault === "vrrp-cut") holdersDuringCut = Math.max(holdersDuringCut ?? 0, now.length);
        const other = now.find((n) => n !== holderBefore);
        if (other && takeoverMs === null) {
            takeoverMs = Date.now() - faultAt;
            holderAfter = other;
        }
        if (takeoverMs !== null && Date.now() - faultAt >= holdMs) break;
        await sleep(100);
    }
    // Wait out the load before booting anything again: a boot competes with the load for the machine's cores.
    const records = await load.promise;
    await spec.heal(site, holderBefore);
    if (fault === "clean-stop" || fault === "crash") await waitUntilProvisioned(holderBefore, 300_000);
    // The returning one must come back as backup (nopreempt): give it time to run VRRP, then look.
    await sleep(10_000);
    const after = await siteAddressHolders(site);

    const usualMs = latency(records.filter((r) => r.startMs + r.ms < faultAt).map((r) => r.ms));
    return {
        fault,
        holderBefore,
        holderAfter,
        takeoverMs,
        unservedMs: longestGap(records, faultAt),
        requests: records.length,
        failed: records.filter(failed).length,
        errors: [...new Set(records.filter(failed).map((r) => String(r.outcome)))],
        usualMs,
        holderAfterReturn: after.length === 1 ? after[0] : null,
        holdersAfterReturn: after.length,
        holdersDuringCut,
    };
}

export function formatLbFigures(f: LbFaultFigures): string {
    const s = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(2)} s`);
    return [
        `${f.fault}: ${f.holderBefore} held the address; ${f.holderAfter ?? "nobody"} took it after ${s(f.takeoverMs)}`,
        `no answer for ${s(f.unservedMs)}; ${f.failed} of ${f.requests} requests failed${f.errors.length ? ` (${f.errors.join("; ")})` : ""}`,
        ...(f.holdersDuringCut !== null ? [`${f.holdersDuringCut} held it while VRRP was cut`] : []),
        `after the return: ${f.holdersAfterReturn} hold(s) it${f.holderAfterReturn ? ` (${f.holderAfterReturn})` : ""}`,
    ].join("; ");
}
