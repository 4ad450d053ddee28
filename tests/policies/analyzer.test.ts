/**
 * The pack under the real analyzer, as `pulumi preview --policy-pack policies`
 * starts it: `@pulumi/pulumi/cmd/run-policy-pack` in the pack directory (which
 * is what the CLI's pulumi-analyzer-policy runs), type-checked by ts-node,
 * serving gRPC. The test plays the engine: it sends the dev plan and checks
 * the analyzer's verdicts are the offline checker's.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { policies } from "../../policies/pack";
import { resolvePolicyConfig } from "../../tools/policy-check/config";
import { evaluate } from "../../tools/policy-check/evaluate";
import { policyResources, StackResource, stackResources } from "../../tools/policy-check/resources";
import { planProgram } from "../../tools/preview/plan";
import { devStackFile } from "../helpers";
import { asFirstPreview } from "./helpers";

// The engine's side of the protocol, from the packages @pulumi/pulumi itself uses.
const grpc = require("@grpc/grpc-js");
const { AnalyzerClient } = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb");

const root = path.resolve(__dirname, "..", "..");
const levels = ["advisory", "mandatory", "disabled", "remediate"];

let analyzer: ChildProcess;
let client: any;
const call = (method: string, request: unknown) =>
    new Promise<any>((resolve, reject) =>
        client[method](request, (err: Error | null, response: unknown) => (err ? reject(err) : resolve(response))),
    );

beforeAll(async () => {
    analyzer = spawn(process.execPath, [path.join(root, "node_modules/@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:0", "."], {
        cwd: path.join(root, "policies"),
    });
    let stderr = "";
    analyzer.stderr!.on("data", (d) => (stderr += d));
    // Like the engine, wait for the port on the first line of stdout.
    const port = await new Promise<string>((resolve, reject) => {
        analyzer.stdout!.once("data", (d) => resolve(String(d).trim()));
        analyzer.once("exit", (code) => reject(new Error(`the policy pack exited (${code}) before serving: ${stderr}`)));
    });
    client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 120000);

afterAll(() => {
    client?.close();
    analyzer?.kill();
});

function analyzerResource(r: StackResource, message: any) {
    const a = new message();
    a.setType(r.type);
    a.setUrn(r.urn);
    a.setName(r.name);
    a.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(r.props))));
    const o = new pb.AnalyzerResourceOptions();
    o.setProtect(r.options.protect);
    o.setIgnorechangesList(r.options.ignoreChanges);
    // As the engine sends them: the option, whether it was set, and the resource's dependencies.
    o.setDeletebeforereplace(r.options.deleteBeforeReplace === true);
    o.setDeletebeforereplacedefined(r.options.deleteBeforeReplace !== undefined);
    if (r.parent) o.setParent(r.parent);
    a.setOptions(o);
    if (typeof a.setDependenciesList === "function") a.setDependenciesList(r.dependencies);
    return a;
}

/** What the engine would print for the stack: every diagnostic of analyzeStack and of analyze per resource. */
async function analyze(resources: StackResource[]): Promise<string[]> {
    const request = new pb.AnalyzeStackRequest();
    request.setResourcesList(
        resources.map((r) => {
            const a = analyzerResource(r, pb.AnalyzerResource);
            if (r.parent) a.setParent(r.parent);
            a.setDependenciesList(r.dependencies);
            for (const [prop, urns] of Object.entries(r.propertyDependencies)) {
                const deps = new pb.AnalyzerPropertyDependencies();
                deps.setUrnsList(urns);
                a.getPropertydependenciesMap().set(prop, deps);
            }
            return a;
        }),
    );
    const diagnostics = [...(await call("analyzeStack", request)).getDiagnosticsList()];
    for (const r of resources) diagnostics.push(...(await call("analyze", analyzerResource(r, pb.AnalyzeRequest))).getDiagnosticsList());
    return diagnostics
        .map(
            (d: any) =>
                `${d.getPolicyname()} [${levels[d.getEnforcementlevel()]}] ${d.getUrn().split("::").pop()}: ${d.getMessage().split("\n").slice(1).join("\n")}`,
        )
        .sort();
}

async function offline(resources: StackResource[], config: object = {}): Promise<string[]> {
    const r = await evaluate(policies, policyResources(resources), resolvePolicyConfig(config, policies));
    return r.violations.map((v) => `${v.policy} [${v.enforcementLevel}] ${v.urn.split("::").pop()}: ${v.message}`).sort();
}

test("the pack loads under the analyzer and describes every policy", async () => {
    const info = await call("getAnalyzerInfo", new Empty());
    expect([info.getName(), info.getVersion()]).toEqual(["foobar-compliance", "0.1.0"]);
    const described = info.getPoliciesList().map((p: any) => ({
        name: p.getName(),
        level: levels[p.getEnforcementlevel()],
        hasRemediation: p.getRemediationSteps().length > 0,
        exempt: p.getConfigschema().getProperties().toJavaScript().exempt?.type,
    }));
    expect(described).toEqual(policies.map((p) => ({ name: p.name, level: "advisory", hasRemediation: true, exempt: "array" })));
}, 120000);

test("over the dev stack, the analyzer's verdicts are the offline checker's, config and exemptions included", async () => {
    const resources = stackResources(await planProgram(devStackFile()));
    expect(await analyze(resources)).toEqual(await offline(resources));
    expect(await analyze(resources)).toHaveLength(27);

    const config = { all: "mandatory", "firewall-no-public-ip": { enforcementLevel: "advisory", exempt: ["web-1", "web-2"] } };
    const request = new pb.ConfigureAnalyzerRequest();
    for (const [name, s] of Object.entries(resolvePolicyConfig(config, policies))) {
        const c = new pb.PolicyConfig();
        c.setEnforcementlevel(levels.indexOf(s.enforcementLevel));
        c.setProperties(Struct.fromJavaScript(s.properties));
        request.getPolicyconfigMap().set(name, c);
    }
    await call("configure", request);
    try {
        const configured = await analyze(resources);
        expect(configured).toEqual(await offline(resources, config));
        expect(configured.filter((d) => d.startsWith("firewall-no-public-ip"))).toEqual([
            "firewall-no-public-ip [advisory] db-primary: db-primary (db tier) is reachable from the internet: associatePublicIpAddress is true.",
            "firewall-no-public-ip [advisory] db-replica-1: db-replica-1 (db tier) is reachable from the internet: associatePublicIpAddress is true.",
        ]);
    } finally {
        await call("configure", new pb.ConfigureAnalyzerRequest());
    }
}, 120000);

test("over a first preview (unknown ids and user-data), the analyzer neither fails nor guesses", async () => {
    const plan = await planProgram(devStackFile());
    const preview = asFirstPreview(plan, stackResources(plan));
    const verdicts = await analyze(preview);
    expect(verdicts).toEqual(await offline(preview));
    // No "can't run policy during preview" diagnostics: every policy judged what it could.
    expect(verdicts.filter((d) => d.includes("during preview"))).toEqual([]);
    expect(verdicts.some((d) => d.startsWith("redundancy-database-write-failover"))).toBe(false);
}, 120000);
