/**
 * The load-balancer pair on the local cloud, under a steady load through the site's public address: the one
 * that holds the address stopped, crashed, cut off, its HAProxy stopped, and VRRP between the two cut
 * (tools/bench/lbFaults.ts). Mounted by the suite of a stack with `lbCount: 2` (prod), after its other tests.
 */
import { describeLbFault, formatLbFigures, LbFault, lbFaults, runLbFault } from "../../../tools/bench/lbFaults";
import { LocalSite, status } from "../../../tools/local-cloud/site";

const MINUTE = 60_000;
/** Load clients: four GET clients and one POST client (tools/bench/webFaults.ts steadyLoad). */
const clients = 5;

export function loadBalancerPairTests(site: () => LocalSite): void {
    describe("the load-balancer pair", () => {
        test("local:status shows which load balancer holds the site's address: exactly one", async () => {
            const lbs = (await status()).filter((r) => r.role === "lb");
            expect(lbs.map((r) => r.name)).toEqual(["lb-1", "lb-2"]);
            expect(lbs.filter((r) => r.siteAddress === site().publicAddress)).toHaveLength(1);
            expect(lbs.filter((r) => r.siteAddress !== null && r.siteAddress !== site().publicAddress)).toEqual([]);
        });

        test.each(lbFaults.map((f) => [f, describeLbFault(f)] as [LbFault, string]))(
            "%s (%s): the other takes the address; afterwards exactly one holds it",
            async (fault) => {
                const f = await runLbFault(site(), fault);
                console.log(`load-balancer fault: ${formatLbFigures(f)}`);
                expect(f.holderAfter).not.toBeNull();
                expect(f.holderAfter).not.toBe(f.holderBefore);
                // VRRPv2's whole-second adverts: a silent master is given up after 3 adverts and a skew (about 3.1 s);
                // one that leaves (a clean stop, a failed track script) at once. Bounds leave room for a loaded 2-core machine.
                expect(f.takeoverMs).toBeLessThan(fault === "haproxy-stopped" ? 8000 : 6000);
                expect(f.unservedMs).toBeLessThan(fault === "haproxy-stopped" ? 10_000 : 8000);
                if (fault === "vrrp-cut") {
                    // The split brain the fault makes: both claimed the address while they could not hear each other.
                    expect(f.holdersDuringCut).toBe(2);
                    expect(f.holdersAfterReturn).toBe(1);
                } else {
                    // Only the requests in flight fail when the holder goes away; while a stopped HAProxy refuses, clients retry and fail fast until the track script hands over.
                    if (fault !== "haproxy-stopped") expect(f.failed).toBeLessThanOrEqual(2 * clients);
                    // The returning one comes back as backup: the address stays where it went (nopreempt).
                    expect(f.holdersAfterReturn).toBe(1);
                    expect(f.holderAfterReturn).toBe(f.holderAfter);
                }
            },
            8 * MINUTE,
        );
    });
}
