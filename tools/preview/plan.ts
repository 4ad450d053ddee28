/**
 * Runs the Pulumi program in-process under mocks and records the plan: every
 * resource with its URN, parent, inputs and options, and the stack outputs.
 * This is what `pulumi preview` would send to AWS, without the CLI or a cloud.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parseStackConfig } from "../../config";
import { decodeUserData } from "../../userdata/cloudConfig";
import { AwsMocks } from "./mocks";
import { loadStackConfig, projectRoot, StackFile } from "../stackFile";

export interface PlannedResource {
    urn: string;
    type: string;
    name: string;
    /** URN of the parent; the stack's for top-level resources. */
    parent?: string;
    custom: boolean;
    /** Inputs as sent to the provider; user-data decoded to text under `userData`. */
    inputs: Record<string, unknown>;
    /** What the mocks returned beyond the inputs (ids, ARNs, generated values), as `pulumi up` would learn them. */
    outputs: Record<string, unknown>;
    /**
     * URNs of every resource the engine is told this one depends on (its RegisterResource request): dependsOn, and
     * every resource whose outputs its inputs take. The engine creates this one only after those.
     */
    dependencies: string[];
    /**
     * The resource options a policy may read, and those that decide how a change rolls out; aliases and
     * dependsOn as URNs (aliases: the names a renamed resource had).
     */
    options: {
        protect: boolean;
        ignoreChanges: string[];
        aliases: string[];
        deleteBeforeReplace: boolean;
        replaceOnChanges: string[];
        dependsOn: string[];
    };
}

export interface OfflinePlan {
    project: string;
    stack: string;
    resources: PlannedResource[];
    outputs: Record<string, unknown>;
    /** Values of every generated secret (mocked), so checks can prove none leaks. */
    secretValues: string[];
}

const secretSig = "4dabf18193072939515e22adb298388d";

/** Replaces Pulumi's secret envelopes with their values, collecting them. */
function unwrapSecrets(value: unknown, secrets: Set<string>): unknown {
    if (Array.isArray(value)) return value.map((v) => unwrapSecrets(v, secrets));
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (obj[secretSig] !== undefined && "value" in obj) {
            if (typeof obj.value === "string") secrets.add(obj.value);
            return unwrapSecrets(obj.value, secrets);
        }
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v, secrets)]));
    }
    return value;
}

interface Registration {
    type: string;
    name: string;
    parent?: pulumi.Resource;
    options: Omit<PlannedResource["options"], "aliases" | "dependsOn">;
    aliases: (string | pulumi.Alias)[];
    /** As the program passed it: a list, or a promise of one (a dependency known only later in the program). */
    dependsOn: pulumi.CustomResourceOptions["dependsOn"];
}

const noOptions: PlannedResource["options"] = {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    deleteBeforeReplace: false,
    replaceOnChanges: [],
    dependsOn: [],
};

let running = false;

/** A resource's dependsOn as a list: `Input<Input<Resource>[]> | Input<Resource>` (the SDK may hand it over as an Output), resolved. */
async function resolveDependsOn(value: Registration["dependsOn"]): Promise<pulumi.Resource[]> {
    const settle = (v: unknown): Promise<unknown> =>
        pulumi.Output.isInstance(v) ? new Promise((resolve) => (v as pulumi.Output<unknown>).apply(resolve)) : Promise.resolve(v);
    const resolved = await settle(value);
    return Promise.all(([] as unknown[]).concat(resolved ?? []).map(async (r) => (await settle(r)) as pulumi.Resource));
}

/** Plans one stack from its stack file. */
export async function planStack(stack: string, root = projectRoot): Promise<OfflinePlan> {
    return planProgram(loadStackConfig(stack, root), root);
}

/** Plans the program with a given configuration (what a stack file would hold). */
export async function planProgram(file: StackFile, root = projectRoot, opts: PlanOptions = {}): Promise<OfflinePlan> {
    // Fail on a bad value before the Pulumi runtime starts, as `pulumi up` fails before registering anything.
    parseStackConfig(file.project, file.stack, file.config);
    // The program exports a function, as Pulumi's own runtime allows: call it again for each plan. This project's is the one
    // beside this module (compiled with it under bin/, or TypeScript under ts-node and jest); another project's, by its path.
    const programPath = path.resolve(root) === projectRoot ? path.join(__dirname, "..", "..", "index") : path.join(root, "index.ts");
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program's path is only known at run time
    const program = require(programPath) as () => Promise<Record<string, unknown>>;
    return recordPlan(file, program, opts);
}

export interface PlanOptions {
    /** How many availability zones the mocked region offers (default mockRegionZones). */
    regionZones?: number;
}

/**
 * Runs any Pulumi program (the whole stack, or one component in a test) under
 * the mocks and records what it registers. The Pulumi runtime is
 * process-global, so plans run one at a time.
 */
export async function recordPlan(
    { project, stack, config }: StackFile,
    program: () => Promise<Record<string, unknown> | void>,
    opts: PlanOptions = {},
): Promise<OfflinePlan> {
    if (running) throw new Error("a plan is already running in this process");
    running = true;
    // A program that throws inside the Pulumi runtime becomes an unhandled rejection: keep it out, fail the plan with it.
    let programError: unknown;
    try {
        const region = config["aws:region"] ?? "us-east-1";
        const mocks = new AwsMocks(region, undefined, opts.regionZones);
        const recorded: {
            type: string;
            name: string;
            inputs: Record<string, unknown>;
            custom: boolean;
            outputs: Record<string, unknown>;
        }[] = [];
        const newResource = mocks.newResource.bind(mocks);
        mocks.newResource = (args) => {
            const result = newResource(args);
            const outputs = Object.fromEntries(Object.entries(result.state).filter(([k]) => !(k in args.inputs)));
            if (result.id !== undefined) outputs.id = result.id;
            recorded.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom !== false, outputs });
            return result;
        };
        await pulumi.runtime.setMocks(mocks, project, stack, true);
        // The dependencies the SDK sends with each registration, as the engine would receive them.
        const dependencies = new Map<string, string[]>();
        type Register = (req: { getType(): string; getName(): string; getDependenciesList(): string[] }, callback: unknown) => void;
        const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: Register };
        const register = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req, callback) => {
            dependencies.set(`${req.getType()}::${req.getName()}`, [...req.getDependenciesList()].sort());
            register(req, callback);
        };
        pulumi.runtime.setAllConfig(config);

        const registrations = new Map<pulumi.Resource, Registration>();

        const outputs =
            (await pulumi.runtime.runInPulumiStack(async () => {
                // Registered inside the stack, where transformations apply: records parents and options.
                pulumi.runtime.registerStackTransformation((args) => {
                    registrations.set(args.resource, {
                        type: args.type,
                        name: args.name,
                        parent: args.opts.parent,
                        options: {
                            protect: args.opts.protect === true,
                            ignoreChanges: args.opts.ignoreChanges ?? [],
                            deleteBeforeReplace: (args.opts as pulumi.CustomResourceOptions).deleteBeforeReplace === true,
                            replaceOnChanges: args.opts.replaceOnChanges ?? [],
                        },
                        // Plain values only: the program passes its aliases as literals.
                        aliases: (args.opts.aliases ?? []) as (string | pulumi.Alias)[],
                        dependsOn: args.opts.dependsOn,
                    });
                    return undefined;
                });
                try {
                    return (await program()) ?? {};
                } catch (err) {
                    programError = err;
                    return {};
                }
            })) ?? {};
        await pulumi.runtime.disconnect();
        if (programError !== undefined) throw programError;
        // Every registration has completed, so a promised dependsOn has resolved: as the engine saw it.
        const dependsOn = new Map<pulumi.Resource, pulumi.Resource[]>();
        for (const [res, reg] of registrations) dependsOn.set(res, await resolveDependsOn(reg.dependsOn));

        const stackUrn = `urn:pulumi:${stack}::${project}::pulumi:pulumi:Stack::${project}-${stack}`;
        const urnOf = new Map<pulumi.Resource, string>();
        const urn = (r: pulumi.Resource): string => {
            const known = urnOf.get(r);
            if (known) return known;
            const reg = registrations.get(r);
            if (!reg) return stackUrn;
            const types: string[] = [reg.type];
            for (let p = reg.parent && registrations.get(reg.parent); p; p = p.parent && registrations.get(p.parent)) {
                types.unshift(p.type);
            }
            const u = `urn:pulumi:${stack}::${project}::${types.join("$")}::${reg.name}`;
            urnOf.set(r, u);
            return u;
        };
        // An alias names what the resource was: a URN, or (the program's renames) its own URN under an old name.
        const aliasUrns = (r: pulumi.Resource, reg: Registration): string[] =>
            reg.aliases.map((alias) => {
                if (typeof alias === "string") return alias;
                if (typeof alias.name !== "string" || Object.keys(alias).some((k) => k !== "name")) {
                    throw new Error(`${reg.name}: the offline plan records aliases by URN or by name only`);
                }
                return `${urn(r).slice(0, -reg.name.length)}${alias.name}`;
            });
        const byKey = new Map<string, pulumi.Resource>();
        for (const [res, reg] of registrations) byKey.set(`${reg.type}::${reg.name}`, res);

        const secrets = new Set<string>();
        // In the program's order (as it constructs them), not the order registrations complete in: that follows
        // when each resource's inputs and dependencies resolve.
        const order = new Map([...byKey.keys()].map((key, i) => [key, i]));
        const position = (rec: { type: string; name: string }) =>
            rec.type === "pulumi:pulumi:Stack" ? -1 : (order.get(`${rec.type}::${rec.name}`) ?? order.size);
        recorded.sort((a, b) => position(a) - position(b));
        const resources: PlannedResource[] = recorded.map((rec) => {
            if (rec.type === "pulumi:pulumi:Stack") {
                return {
                    urn: stackUrn,
                    type: rec.type,
                    name: rec.name,
                    custom: false,
                    inputs: {},
                    outputs: {},
                    dependencies: [],
                    options: noOptions,
                };
            }
            const res = byKey.get(`${rec.type}::${rec.name}`);
            const reg = res ? registrations.get(res) : undefined;
            const inputs = unwrapSecrets(rec.inputs, secrets) as Record<string, unknown>;
            const userData = decodeUserData(inputs as { userData?: string; userDataBase64?: string });
            if (userData !== undefined) {
                delete inputs.userDataBase64;
                inputs.userData = userData;
            }
            return {
                urn: res ? urn(res) : `urn:pulumi:${stack}::${project}::${rec.type}::${rec.name}`,
                type: rec.type,
                name: rec.name,
                parent: reg?.parent ? urn(reg.parent) : stackUrn,
                custom: rec.custom,
                inputs,
                outputs: unwrapSecrets(rec.outputs, secrets) as Record<string, unknown>,
                dependencies: dependencies.get(`${rec.type}::${rec.name}`) ?? [],
                options: res && reg ? { ...reg.options, aliases: aliasUrns(res, reg), dependsOn: dependsOn.get(res)!.map(urn) } : noOptions,
            };
        });
        // Generated secrets: the values of random passwords and private keys.
        for (const r of resources) {
            for (const key of ["result", "privateKeyPem"]) if (typeof r.outputs[key] === "string") secrets.add(r.outputs[key] as string);
        }
        return {
            project,
            stack,
            resources,
            outputs: unwrapSecrets(outputs, new Set()) as Record<string, unknown>,
            secretValues: [...secrets].sort(),
        };
    } finally {
        running = false;
    }
}
