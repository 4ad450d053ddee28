/**
 * A changed stack file applied to a running local site the way `pulumi up` applies it on AWS
 * (README: Changes on a running stack), with the same readiness signals read from the
 * containers' console logs instead of ec2:GetConsoleOutput:
 *
 * 1. each web server whose user-data or instance type changed, in the deploy's order (web-1 first; with
 *    active-passive the spares first, so the serving server goes once a spare serves): stopped, booted
 *    again on a fresh overlay at the same address, and waited for (`foobar-ready` on its
 *    console, then HAProxy marking it up) before the next one is touched;
 * 2. new servers (web servers, then replicas; their primary already runs), each ready before the next;
 * 3. the new HAProxy configuration published (the load balancer's parameter file), and the
 *    load balancer's marker for its digest waited for;
 * 4. only then web servers the new stack no longer has stopped and removed;
 * 5. a changed load balancer replaced last: an outage when there is one; a pair one at a time,
 *    lb-2 first, each running the published configuration before the other is touched.
 * A database server is never restarted: a changed user-data is reported and ignored, as
 * `ignoreChanges` does on AWS. The security groups of the new plan are loaded before new
 * servers boot, or, when servers go, after they are gone.
 *
 * What each instance runs is recorded in the site file when it boots (`applied`), so a failed
 * step leaves a record of what is done, and the next `local:up` continues from there.
 */
import * as fs from "fs";
import { StackConfig } from "../../config";
import { configDigest, markers } from "../../components/readiness";
import { allInstances, endpointAddresses, InstancePlan, InstanceRole, planTopology, TopologyPlan, webRolloutOrder } from "../../topology";
import { Target } from "../../userdata/target";
import { putParameters } from "./aws";
import { parameterNames, renderInstanceUserData, siteParameters, siteSettings } from "../../userdata/site";
import { haproxyServerStates } from "./clients";
import * as container from "./container";
import { mockRegionZones } from "../preview/mocks";
import { vpcFromCidr } from "./network";
import { alertReceiverPort, virtualAddress } from "./securityGroups";
import type { LocalSite } from "./site";
import { log, sleep, tail } from "./util";

/** What an instance was booted with: a change to either replaces a stateless instance. */
export interface AppliedInstance {
    userData: string;
    instanceType: string;
}

/**
 * The user-data and instance type an instance gets from a site's config and plan (the `local` target).
 * Recorded without a database's data device, which the host assigns at each boot (a loop device):
 * what the stack decides, as Pulumi's state records the inputs it sent.
 */
/** Where the monitoring instance's Alertmanager posts alerts in the local cloud: a receiver at the VPC router's address. */
export function alertWebhookUrl(vpcCidr: string): string {
    return `http://${vpcFromCidr(vpcCidr).gateway}:${alertReceiverPort}/alerts`;
}

export function desiredInstance(
    site: Pick<LocalSite, "config" | "plan" | "url">,
    instance: InstancePlan,
    dataDevice?: string,
): AppliedInstance {
    const settings = siteSettings(site.config, site.plan);
    const target: Target = {
        kind: "local",
        region: site.config.region,
        hosts: endpointAddresses(site.plan),
        dataDevice,
        alertWebhookUrl: alertWebhookUrl(site.config.vpcCidr),
        ...(instance.role === "lb" && settings.vrrp ? { virtualAddress: virtualAddress(site.plan.lbs[0].subnet.cidr) } : {}),
    };
    return {
        userData: renderInstanceUserData(settings, instance, target, site.url),
        instanceType: instanceTypeOf(site.config, instance.role),
    };
}

function instanceTypeOf(config: StackConfig, role: InstanceRole): string {
    return role === "lb" ? config.lbInstanceType : role === "web" ? config.webInstanceType : config.dbInstanceType;
}

/** The topology the local cloud lays out for a config: the offline plan's, in the mocked region's zones. */
export function sitePlan(config: StackConfig): TopologyPlan {
    return planTopology(config, mockRegionZones);
}

/** The HAProxy configuration the deploy publishes for a config: the parameter's name and text. */
export function lbConfigParameter(config: StackConfig): { name: string; text: string } {
    const name = parameterNames(config.stack).lbConfig;
    return { name, text: siteParameters(siteSettings(config, sitePlan(config)))[name] };
}

/**
 * The last marker of a kind on an instance's console. A marker counts only as the message of a
 * console line (`<unit>[<pid>]: <marker>`): systemd's own lines name the units (`Starting
 * foobar-ready.service`), which a bare search for the marker would take for the marker.
 */
export function lastConsoleMarker(consoleText: string, pattern: string): string | undefined {
    const re = new RegExp(`\\]: (${pattern})(?![\\w.-])`, "g");
    let last: string | undefined;
    for (const m of consoleText.replace(/\r/g, "").matchAll(re)) last = m[1];
    return last;
}

function readConsole(name: string): string {
    try {
        return fs.readFileSync(container.consoleLog(name), "utf8");
    } catch {
        return "";
    }
}

/** Bounds of the waits: a boot installs nothing (the image holds the packages), so a minute is plenty; these leave room. */
export const rolloutTimeouts = { webReadyMs: 5 * 60_000, lbConfigMs: 2 * 60_000, haproxyUpMs: 30_000 };

/** Waits until the last marker of a kind on an instance's console is `ready`; fails on `failed`, a stopped container or the bound. */
export async function waitForConsoleMarker(
    name: string,
    marker: { pattern: string; ready: string; failed?: string },
    timeoutMs: number,
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const last = lastConsoleMarker(readConsole(name), marker.pattern);
        if (last === marker.ready) return;
        if (marker.failed && last === marker.failed) {
            throw new Error(`${name} reports ${marker.failed} (console: ${container.consoleLog(name)}):\n${tail(readConsole(name), 15)}`);
        }
        if (!container.list().find((c) => c.name === name)?.running) throw new Error(`${name} stopped while waiting for ${marker.ready}`);
        if (Date.now() > deadline) {
            throw new Error(
                `${name}: no ${marker.ready} on its console within ${timeoutMs / 1000} s (last marker: ${last ?? "none"}; console: ${container.consoleLog(name)})`,
            );
        }
        await sleep(500);
    }
}

/** What `up` does to a running site of the same stack whose stack file changed. */
export interface RolloutPlan {
    /** Running web servers to stop and boot again with the new user-data or type, in order. */
    replaceWeb: string[];
    /** Web servers already on the new version that have not said they are ready (a failed step's server). */
    awaitWeb: string[];
    createWeb: string[];
    createReplicas: string[];
    /** Publish the new HAProxy configuration (or wait again for the load balancer to run it). */
    lbConfig: boolean;
    removeWeb: string[];
    /** Load balancers to replace, one at a time: the last first, so lb-1 goes only once lb-2 serves. */
    replaceLbs: string[];
    /** The new plan has a load-balancer pair: a replacement leaves the other serving. */
    lbPair: boolean;
    /** The monitoring instance, when its user-data or type changed (its scrape targets follow the plan): replaced, as on AWS. */
    replaceMonitoring: string[];
    /** Database servers whose user-data or type changed: left as they are. */
    ignoredDatabases: string[];
    /** The security groups of the new plan differ from the loaded ones. */
    firewall: boolean;
}

export function isEmpty(plan: RolloutPlan): boolean {
    return (
        plan.replaceWeb.length + plan.awaitWeb.length + plan.createWeb.length + plan.createReplicas.length + plan.removeWeb.length === 0 &&
        !plan.lbConfig &&
        plan.replaceLbs.length === 0 &&
        plan.replaceMonitoring.length === 0 &&
        !plan.firewall
    );
}

const byNumber = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

/**
 * Compares what runs (the site's record of each instance, the containers, the consoles, the
 * published configuration, the loaded ruleset) with what the new config and plan want.
 */
export function planRollout(
    current: LocalSite,
    desired: Pick<LocalSite, "config" | "plan" | "url">,
    state: { running: string[]; publishedLbConfig: string | undefined; ruleset: { loaded: string | undefined; desired: string } },
): RolloutPlan {
    const applied = current.applied ?? {};
    const running = new Set(state.running);
    const wanted = allInstances(desired.plan);
    const wantedNames = new Set(wanted.map((i) => i.name));
    const changed = (i: InstancePlan) => {
        const now = applied[i.name];
        const next = desiredInstance(desired, i);
        return !now || now.userData !== next.userData || now.instanceType !== next.instanceType;
    };
    const plan: RolloutPlan = {
        replaceWeb: [],
        awaitWeb: [],
        createWeb: [],
        createReplicas: [],
        lbConfig: false,
        removeWeb: [],
        replaceLbs: [],
        lbPair: desired.plan.lbs.length > 1,
        replaceMonitoring: [],
        ignoredDatabases: [],
        firewall: state.ruleset.loaded !== state.ruleset.desired,
    };
    for (const i of wanted) {
        const known = applied[i.name] !== undefined;
        if (i.role === "web") {
            if (!known) plan.createWeb.push(i.name);
            else if (changed(i) || !running.has(i.name)) plan.replaceWeb.push(i.name);
            else if (lastConsoleMarker(readConsole(i.name), markers.webReady.pattern) !== markers.webReady.ready)
                plan.awaitWeb.push(i.name);
        } else if (i.role === "lb") {
            if (!known || changed(i) || !running.has(i.name)) plan.replaceLbs.unshift(i.name);
        } else if (i.role === "monitoring") {
            if (!known || changed(i) || !running.has(i.name)) plan.replaceMonitoring.push(i.name);
        } else if (!known) {
            // A new replica, or a new Galera node (it joins with a snapshot); never a new primary.
            if (i.role !== "db-replica" && i.role !== "db-node")
                throw new Error(`the new plan has a ${i.role} ${i.name} the site does not run: run npm run local:down first`);
            plan.createReplicas.push(i.name);
        } else if (!running.has(i.name)) {
            throw new Error(`the database server ${i.name} is stopped; start it first: npm run local:start -- ${i.name}`);
        } else if (changed(i)) {
            plan.ignoredDatabases.push(i.name);
        }
    }
    for (const name of Object.keys(applied).filter((n) => !wantedNames.has(n))) {
        const role = allInstances(current.plan).find((i) => i.name === name)?.role ?? (name.startsWith("web-") ? "web" : "db");
        if (role !== "web") {
            throw new Error(
                `the new stack no longer has the database server ${name}: a database server is never removed by a change (protected on AWS)`,
            );
        }
        plan.removeWeb.push(name);
    }
    const lb = lbConfigParameter(desired.config);
    const lbMarker = markers.lbConfig(configDigest(lb.text));
    plan.lbConfig =
        state.publishedLbConfig !== lb.text ||
        desired.plan.lbs.some(
            (i) => !plan.replaceLbs.includes(i.name) && lastConsoleMarker(readConsole(i.name), lbMarker.pattern) !== lbMarker.ready,
        );
    if (plan.removeWeb.length > 0 && plan.createWeb.length + plan.createReplicas.length > 0) {
        throw new Error(
            `the change both adds (${[...plan.createWeb, ...plan.createReplicas].join(", ")}) and removes (${plan.removeWeb.join(", ")}) servers; apply one at a time`,
        );
    }
    for (const list of [plan.createReplicas, plan.removeWeb, plan.ignoredDatabases]) list.sort(byNumber);
    // Web servers in the order the deploy chains them (components/webTier.ts).
    const order = webRolloutOrder(desired.plan).map((w) => w.name);
    for (const list of [plan.replaceWeb, plan.awaitWeb, plan.createWeb]) list.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    return plan;
}

/** Steps of the rollout that touch containers, the parameter file and the firewall; supplied by site.ts. */
export interface RolloutActions {
    /** Boots an instance of the new site (recording what it runs) and returns once its init runs. */
    start(name: string): Promise<void>;
    /** Waits for cloud-init on an instance (new replicas). */
    provisioned(name: string): Promise<void>;
    /** Records that an instance is gone. */
    forget(name: string): void;
    /** The load balancer answers at the site's public address. */
    lbAnswers(): Promise<void>;
    /** Loads the new plan's security groups (firewall.ts). */
    loadSecurityGroups(): void;
}

export function describeRollout(plan: RolloutPlan): string {
    const parts = [
        plan.replaceWeb.length ? `replace ${plan.replaceWeb.join(", ")} one at a time` : "",
        plan.awaitWeb.length ? `wait for ${plan.awaitWeb.join(", ")}` : "",
        plan.createWeb.length ? `create ${plan.createWeb.join(", ")}` : "",
        plan.createReplicas.length ? `create ${plan.createReplicas.join(", ")}` : "",
        plan.lbConfig ? "publish the HAProxy configuration" : "",
        plan.removeWeb.length ? `then remove ${plan.removeWeb.join(", ")}` : "",
        plan.replaceLbs.length === 0
            ? ""
            : plan.lbPair
              ? `replace ${plan.replaceLbs.join(", ")} one at a time (the other holds the public address)`
              : "replace the load balancer (an outage)",
        plan.replaceMonitoring.length ? `replace ${plan.replaceMonitoring.join(", ")} (alerts pause until it is back)` : "",
        plan.firewall && !plan.createWeb.length && !plan.removeWeb.length && !plan.createReplicas.length ? "load the security groups" : "",
    ];
    return parts.filter(Boolean).join("; ");
}

const elapsed = (start: number) => `${((Date.now() - start) / 1000).toFixed(1)} s`;

/**
 * Applies a rollout plan, step by step with progress lines. A failed step throws with what is
 * left: nothing after it was touched, and every earlier step is recorded.
 */
export async function applyRollout(site: LocalSite, desired: LocalSite, plan: RolloutPlan, act: RolloutActions): Promise<void> {
    const start = Date.now();
    const step = (what: string) => log(`rollout: ${what} (${elapsed(start)})`);
    const firewallRules = plan.firewall || plan.createWeb.length + plan.createReplicas.length + plan.removeWeb.length > 0;
    const loadFirewall = () => {
        act.loadSecurityGroups();
        step("security groups of the new plan loaded");
    };
    const webReady = async (name: string, inBackend: boolean) => {
        await waitForConsoleMarker(name, markers.webReady, rolloutTimeouts.webReadyMs);
        step(`${name}: ${markers.webReady.ready}`);
        if (!inBackend) return;
        // The marker says the app answers; HAProxy sends it traffic once its checks say so (rise 2). Only then is the next server touched.
        const deadline = Date.now() + rolloutTimeouts.haproxyUpMs;
        const upEverywhere = async () => {
            for (const lb of site.plan.lbs) if ((await haproxyServerStates(site, lb.name))[name] !== "UP") return false;
            return true;
        };
        while (!(await upEverywhere())) {
            if (Date.now() > deadline)
                throw new Error(`${name} is ready but HAProxy has not marked it up within ${rolloutTimeouts.haproxyUpMs / 1000} s`);
            await sleep(250);
        }
        step(`${name}: up in HAProxy's backend`);
    };
    const failing = (what: string) => (err: unknown) => {
        throw new Error(
            `${what}: ${(err as Error).message}\nNothing after this step was touched; fix the cause and run local:up again to continue.`,
        );
    };

    // A server of a failed earlier run: in the backend if it was replaced, not yet if it was new.
    const backend = plan.awaitWeb.length > 0 ? await haproxyServerStates(site) : {};
    for (const name of plan.awaitWeb) await webReady(name, name in backend).catch(failing(`${name} is not ready`));
    for (const name of plan.replaceWeb) {
        step(`${name}: stopping (the other web servers serve)`);
        await container.stop(name);
        await act.start(name);
        await webReady(name, true).catch(failing(`${name} was replaced but is not ready`));
    }
    if (firewallRules && plan.removeWeb.length === 0) loadFirewall();
    for (const name of plan.createWeb) {
        await act.start(name);
        await webReady(name, false).catch(failing(`the new ${name} is not ready`));
    }
    for (const name of plan.createReplicas) {
        await act.start(name);
        await act.provisioned(name);
        step(`${name}: replicating`);
    }
    if (plan.lbConfig) {
        const { name, text } = lbConfigParameter(desired.config);
        await putParameters(desired.config.region, [{ name, value: text, type: "String" }]);
        const marker = markers.lbConfig(configDigest(text));
        const waitFor = desired.plan.lbs.map((i) => i.name).filter((n) => !plan.replaceLbs.includes(n));
        step(
            `HAProxy configuration ${configDigest(text)} published (${desired.plan.web.map((w) => w.name).join(", ")})${waitFor.length ? `; waiting for ${waitFor.join(", ")}` : ""}`,
        );
        for (const lb of waitFor) {
            await waitForConsoleMarker(lb, marker, rolloutTimeouts.lbConfigMs).catch(
                failing(`${lb} does not run configuration ${configDigest(text)}`),
            );
            step(`${lb}: ${marker.ready}`);
        }
    }
    for (const name of plan.removeWeb) {
        step(`${name}: stopping and removing (HAProxy no longer routes to it)`);
        await container.stop(name);
        act.forget(name);
    }
    if (firewallRules && plan.removeWeb.length > 0) loadFirewall();
    for (const lb of plan.replaceLbs) {
        step(
            plan.lbPair
                ? `${lb}: replacing (the other load balancer holds the public address)`
                : `${lb}: replacing the load balancer: AN OUTAGE until it is back (there is one load balancer)`,
        );
        await container.stop(lb);
        await act.start(lb);
        const marker = markers.lbConfig(configDigest(lbConfigParameter(desired.config).text));
        await waitForConsoleMarker(lb, marker, rolloutTimeouts.webReadyMs).catch(
            failing(`the new ${lb} does not run the published configuration`),
        );
        await act.lbAnswers();
        step(`${lb}: ${marker.ready}, answering again`);
    }
    for (const name of plan.replaceMonitoring) {
        step(`${name}: replacing (its scrape targets or type changed; alerts pause until it is back)`);
        await container.stop(name);
        await act.start(name);
        await act.provisioned(name);
        step(`${name}: provisioned`);
    }
    for (const name of plan.ignoredDatabases) {
        log(
            `rollout: ${name}: its user-data or instance type changed; ignored (a database server is never replaced by a change; ignoreChanges on AWS)`,
        );
    }
    step("done");
}
