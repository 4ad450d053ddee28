/** Shared fixtures: stack configs, reading offline plans, rendered user-data, and running real validators. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig, projectSettings, RawConfig, StackConfig } from "../config";
import { allInstances, endpointAddresses, InstancePlan, planTopology, TopologyPlan } from "../topology";
import { renderInstanceUserData, siteParameters, siteSettings } from "../userdata/site";
import { Target } from "../userdata/target";
import { mockRegionZones } from "../tools/preview/mocks";
import { OfflinePlan, PlannedResource } from "../tools/preview/plan";
import { loadStackConfig, StackFile } from "../tools/stackFile";

/** The dev stack's config with overrides, as the program would parse it. */
export function devConfig(overrides: RawConfig = {}): StackConfig {
    const file = loadStackConfig("dev");
    return parseConfig("dev", file.config["aws:region"], { ...projectSettings(file.project, file.config), ...overrides });
}

/** The dev stack file with overrides, for planning the program under mocks. */
export function devStackFile(overrides: Record<string, string> = {}): StackFile {
    const file = loadStackConfig("dev");
    const config = { ...file.config };
    for (const [k, v] of Object.entries(overrides)) config[k.includes(":") ? k : `foobar:${k}`] = v;
    return { ...file, config };
}

/** An ingress rule as a security group's inputs record it. */
export interface Rule {
    protocol: string;
    fromPort: number;
    toPort: number;
    cidrBlocks?: string[];
    ipv6CidrBlocks?: string[];
    securityGroups?: string[];
    self?: boolean;
}

export const ofType = (plan: OfflinePlan, type: string): PlannedResource[] => plan.resources.filter((r) => r.type === type);

export function byName(plan: OfflinePlan, name: string): PlannedResource {
    const found = plan.resources.filter((r) => r.name === name);
    if (found.length !== 1) throw new Error(`${found.length} resources named ${name}`);
    return found[0];
}

export const childrenOf = (plan: OfflinePlan, name: string): PlannedResource[] =>
    plan.resources.filter((r) => r.parent === byName(plan, name).urn);

export const ingress = (plan: OfflinePlan, securityGroup: string): Rule[] => byName(plan, securityGroup).inputs.ingress as Rule[];

/** A load balancer of a pair moves the public address: both targets say how. */
const ofPair = (plan: TopologyPlan, instance?: InstancePlan) => instance?.role === "lb" && plan.lbs.length > 1;
export const pairVirtualAddress = "10.0.0.8";
export const pairAllocationId = "eipalloc-0123456789abcdef0";
export const localTarget = (plan: TopologyPlan, instance?: InstancePlan): Target => ({
    kind: "local",
    region: "eu-west-1",
    hosts: endpointAddresses(plan),
    alertWebhookUrl: "http://10.0.0.1:9095/alerts",
    ...(ofPair(plan, instance) ? { virtualAddress: pairVirtualAddress } : {}),
});
/** The site's public URL the monitoring instance probes, as both targets are given it. */
export const publicUrl = "https://198.51.100.10/";
export const alarmTopicArn = "arn:aws:sns:eu-west-1:123456789012:monitoring-alarms";
export const awsTarget = (instance: InstancePlan, plan?: TopologyPlan): Target => ({
    kind: "aws",
    region: "eu-west-1",
    ...(instance.role === "monitoring" ? { alarmTopicArn } : {}),
    ...(plan && ofPair(plan, instance) ? { elasticIpAllocationId: pairAllocationId } : {}),
    dataDevice: instance.role.startsWith("db") ? "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0" : undefined,
});

export interface RenderedInstance {
    instance: InstancePlan;
    aws: string;
    local: string;
    /** What the deploy publishes for the instances to read at run time, by parameter name (the HAProxy configuration). */
    published: Record<string, string>;
}

export function renderAll(config: StackConfig): RenderedInstance[] {
    const plan = planTopology(config, mockRegionZones);
    const settings = siteSettings(config, plan);
    return allInstances(plan).map((instance) => ({
        instance,
        aws: renderInstanceUserData(settings, instance, awsTarget(instance, plan), publicUrl),
        local: renderInstanceUserData(settings, instance, localTarget(plan, instance), publicUrl),
        published: siteParameters(settings),
    }));
}

export function tempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `foobar-${prefix}-`));
}

export interface RunResult {
    status: number | null;
    stdout: string;
    /** stdout and stderr together. */
    output: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
    const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, cwd: opts.cwd, env: opts.env, timeout: 60000 });
    if (r.error) throw new Error(`${cmd} could not run (${r.error.message}); install it (see README: Set-up)`);
    return { status: r.status, stdout: r.stdout, output: `${r.stdout}${r.stderr}` };
}
