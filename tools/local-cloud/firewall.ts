/**
 * Loads the stack's security groups (securityGroups.ts) into the VPC namespace with Debian's
 * nftables, then lets the VPC router forward. The ruleset file stays in the state dir for reading.
 */
import * as fs from "fs";
import * as path from "path";
import type { OfflinePlan } from "../preview/plan";
import { BRIDGE, bridgePort, enableForwarding, GATEWAY, vpcCommand } from "./network";
import { FirewallPlan, firewallPlan, renderRuleset } from "./securityGroups";
import { runSync, stateDir } from "./util";

export function rulesetFile(): string {
    return path.join(stateDir(), "security-groups.nft");
}

/** The ruleset text for a plan, with this cloud's interface names. */
export function rulesetFor(plan: OfflinePlan): { firewall: FirewallPlan; ruleset: string } {
    const firewall = firewallPlan(plan);
    return { firewall, ruleset: renderRuleset(firewall, { bridge: BRIDGE, gateway: GATEWAY, portOf: bridgePort }, plan.stack) };
}

/** Replaces the VPC namespace's ruleset atomically (established connections keep their state) and turns routing on. */
export function enforceSecurityGroups(plan: OfflinePlan): FirewallPlan {
    const { firewall, ruleset } = rulesetFor(plan);
    fs.mkdirSync(stateDir(), { recursive: true });
    fs.writeFileSync(rulesetFile(), ruleset);
    const [cmd, ...args] = vpcCommand(["nft", "-f", rulesetFile()]);
    runSync(cmd, args);
    enableForwarding();
    return firewall;
}
