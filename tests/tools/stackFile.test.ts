/**
 * Stack files, read as the Pulumi CLI reads them, then checked by the program (config.ts).
 *
 * One table: each case is a stack file a user could write. A valid one must produce a plan (and the plan
 * must show the setting took effect); a refused one must produce no plan, only one line that names the
 * file or key, the value and the fix. An input wrongly accepted shows up as a plan where none belongs.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { OfflinePlan, planStack } from "../../tools/preview/plan";
import { checkStackName, ignoredStackFiles, listStacks, loadStackConfig, stackFiles, UsageError } from "../../tools/stackFile";
import { runStep, jobOf, loadWorkflow, must, stepById } from "../github/helpers";
import { byName, ofType, tempDir } from "../helpers";

const root = path.resolve(__dirname, "..", "..");
jest.setTimeout(180000);

/** A scratch project: this program (index.ts linked), its Pulumi.yaml (or under another name), and the stack files a case writes. */
function scratchProject(projectFile = "Pulumi.yaml"): string {
    const dir = tempDir("stack-file");
    fs.copyFileSync(path.join(root, "Pulumi.yaml"), path.join(dir, projectFile));
    fs.symlinkSync(path.join(root, "index.ts"), path.join(dir, "index.ts"));
    return dir;
}
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const region = "config:\n  aws:region: eu-west-1\n";
const instances = (plan: OfflinePlan) => ofType(plan, "aws:ec2/instance:Instance");
const named = byName;
const roles = (plan: OfflinePlan) => instances(plan).map((r) => (r.inputs.tags as { Role: string }).Role);
const committed = (stack: string) => fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8");

type Valid = (plan: OfflinePlan) => void;
/** [what, stack file text, a check of the plan (valid) or the one line of the refusal, the stack file's name] */
type Case = [string, string, Valid | RegExp, string?];

const cases: Case[] = [
    // Valid: the committed stacks.
    ["dev as committed", committed("dev"), (p) => expect(roles(p).sort()).toEqual(["db", "db", "lb", "web", "web"])],
    ["prod as committed", committed("prod"), (p) => expect(named(p, "lb-haproxy-config").inputs.value).toMatch(/bind :443 ssl/)],
    // Valid: the classes of input the Pulumi CLI accepts.
    [
        "a key without a namespace is the project's (Pulumi ≥ 3.42)",
        `${region}  webCount: 3\n`,
        (p) => expect(roles(p).filter((r) => r === "web")).toHaveLength(3),
    ],
    [
        "the legacy <namespace>:config:<name> key",
        `${region}  foobar:config:webCount: 4\n`,
        (p) => expect(roles(p).filter((r) => r === "web")).toHaveLength(4),
    ],
    [
        "quoted values and integers with a sign, as Go's strconv.Atoi reads them",
        'config:\n  "aws:region": "eu-west-1"\n  foobar:webCount: "+3"\n  foobar:monitoring: "false"\n  foobar:replicaCount: 0\n',
        (p) => {
            expect(roles(p).sort()).toEqual(["db", "lb", "web", "web", "web"]);
            expect(p.resources.some((r) => r.type === "aws:sns/topic:Topic")).toBe(false);
        },
    ],
    [
        "what `pulumi stack init` writes beside config: (secrets provider, salt)",
        `secretsprovider: passphrase\nencryptionsalt: v1:c2FsdA==:v1:aXY=:Y2lwaGVy\n${region}`,
        // Pulumi.yaml's defaults: monitoring on, so the monitoring instance joins the five of the site.
        (p) => expect(instances(p)).toHaveLength(6),
    ],
    [
        "provider settings, an object value among them",
        `${region}  aws:skipCredentialsValidation: true\n  aws:defaultTags:\n    tags:\n      team: web\n  pulumi:tags:\n    owner: web\n`,
        (p) => expect(instances(p)).toHaveLength(6),
    ],
    [
        "YAML merge keys and a trailing document marker, which the CLI's yaml.v3 reads",
        `${region}  aws:defaultTags:\n    tags: &tags\n      team: web\n  pulumi:tags:\n    <<: *tags\n    owner: web\n  webCount: 3\n---\n`,
        (p) => expect(roles(p).filter((r) => r === "web")).toHaveLength(3),
    ],
    // Valid: settings the program's checks accept.
    [
        "arm64 with Graviton types everywhere",
        `${region}  foobar:architecture: arm64\n  foobar:lbInstanceType: t4g.micro\n  foobar:webInstanceType: m7g.large\n  foobar:dbInstanceType: r8gd.large\n  foobar:monitoringInstanceType: t4g.small\n`,
        (p) => expect(named(p, "web-1").inputs.instanceType).toBe("m7g.large"),
    ],
    [
        "SSH from anywhere, said explicitly",
        `${region}  foobar:adminCidr: 0.0.0.0/0\n  foobar:allowSshFromAnywhere: true\n`,
        (p) =>
            expect(JSON.stringify(p.resources.filter((r) => r.type.startsWith("aws:ec2/securityGroup")))).toMatch(
                /"fromPort":22.*0\.0\.0\.0\/0/,
            ),
    ],
    [
        "SSH from a /8 (a corporate network): the widest admin network",
        `${region}  foobar:adminCidr: 10.0.0.0/8\n`,
        (p) =>
            expect(JSON.stringify(p.resources.filter((r) => r.type.startsWith("aws:ec2/securityGroup")))).toMatch(
                /"fromPort":22.*10\.0\.0\.0\/8/,
            ),
    ],
    [
        "a Galera third zone in 100.64.0.0/10, which AWS permits beside any primary block",
        `${region}  foobar:database: galera\n  foobar:thirdZoneCidr: 100.64.0.0/17\n`,
        (p) =>
            expect(JSON.stringify(ofType(p, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation"))).toContain("100.64.0.0/17"),
    ],
    [
        "alarmEmail with monitoring, domain without www.",
        `${region}  foobar:alarmEmail: ops@foobar.com\n  foobar:domain: foobar.com\n  foobar:hostedZoneId: Z0123456789ABC\n`,
        (p) => expect(p.resources.find((r) => r.type === "aws:route53/record:Record" && r.inputs.name === "www.foobar.com")).toBeDefined(),
    ],

    // Refused while reading the stack file, as the CLI reads it or would misread it.
    [
        "an empty string for a key Pulumi.yaml types integer",
        `${region}  foobar:webCount: ""\n`,
        /^Pulumi\.t\.yaml: foobar:webCount="": Pulumi\.yaml declares it type: integer, so the Pulumi CLI refuses this value; give a whole number, or remove the line to get the default 2$/,
    ],
    [
        "an empty string for a key Pulumi.yaml types boolean",
        `${region}  foobar:monitoring: ""\n`,
        /foobar:monitoring="": Pulumi\.yaml declares it type: boolean.*give true or false/,
    ],
    ["a list for an integer key", `${region}  foobar:webCount: [3]\n`, /foobar:webCount=\[3\]: Pulumi\.yaml declares it type: integer/],
    [
        "YAML null",
        `${region}  foobar:keyName:\n`,
        /^Pulumi\.t\.yaml: foobar:keyName has no value \(YAML null\).*write foobar:keyName: "" to leave it unset, or give it a value$/,
    ],
    [
        "a misspelt namespace",
        `${region}  foobarr:webCount: 3\n`,
        /^Pulumi\.t\.yaml: foobarr:webCount: "foobarr" is not a namespace this program reads.*did you mean "foobar:webCount"\?/,
    ],
    [
        "a misspelt provider key",
        "config:\n  aws:regoin: eu-west-1\n",
        /^Pulumi\.t\.yaml: aws:regoin is not a setting of the aws provider, so it would be ignored; did you mean "aws:region"\?/,
    ],
    [
        "a key of a provider without settings",
        `${region}  random:seed: 4\n`,
        /random:seed is not a setting of the random provider.*its settings: none/,
    ],
    [
        "a key with two colons",
        `${region}  foobar:web:count: 3\n`,
        /could not parse "foobar:web:count" as a configuration key; keys are <namespace>:<name>/,
    ],
    [
        "a setting outside config:",
        `${region}foobar:webCount: 3\n`,
        /^Pulumi\.t\.yaml: foobar:webCount is written outside config:, where Pulumi ignores it; indent it under config:$/,
    ],
    ["a bare setting outside config:", `${region}webCount: 3\n`, /webCount is written outside config:/],
    [
        "confg: for config:",
        "confg:\n  aws:region: eu-west-1\n",
        /^Pulumi\.t\.yaml: "confg" is not a stack-file key; did you mean "config"\? a stack file holds config, /,
    ],
    ["a list instead of a mapping", "- aws:region: eu-west-1\n", /^Pulumi\.t\.yaml: must be a mapping with a config: section, not a list$/],
    [
        "a string instead of a mapping",
        "aws:region eu-west-1\n",
        /must be a mapping with a config: section, not the string "aws:region eu-west-1"/,
    ],
    ["config: not a mapping", "config:\n  - aws:region\n", /config: must be a mapping of keys to values, not a list/],
    [
        "a key given twice",
        `${region}  foobar:webCount: 2\n  foobar:webCount: 3\n`,
        /^Pulumi\.t\.yaml: not valid YAML: Map keys must be unique/,
    ],
    [
        "an encrypted secret",
        `${region}  foobar:keyName:\n    secure: AAABAA==\n`,
        /foobar:keyName is an encrypted secret; the offline tools cannot decrypt it/,
    ],
    [
        "an ESC environment",
        `${region}environment:\n  - prod-env\n`,
        /environment: imports Pulumi ESC environments, which the offline tools cannot open/,
    ],
    // Unquoted scalars the CLI (yaml.v3) does not pass on as written: each names the key, what the CLI reads, and the fix.
    [
        "a float for an integer: 1e1",
        `${region}  webCount: 1e1\n`,
        /^Pulumi\.t\.yaml: webCount=1e1: a YAML number that the Pulumi CLI passes on as "10", not as written; write 10, or quote it \("1e1"\) to keep the text$/,
    ],
    ["a hexadecimal number: 0x10", `${region}  foobar:replicaCount: 0x10\n`, /foobar:replicaCount=0x10: .*passes on as "16".*write 16/],
    ["2.0 for an integer", `${region}  foobar:dbVolumeSizeGiB: 2.0\n`, /foobar:dbVolumeSizeGiB=2\.0: .*passes on as "2"/],
    ["True", `${region}  foobar:monitoring: True\n`, /foobar:monitoring=True: a YAML boolean .*passes on as "true".*write true/],
    ["FALSE", `${region}  foobar:dbDeletionProtection: FALSE\n`, /foobar:dbDeletionProtection=FALSE: a YAML boolean .*"false"/],
    [
        "a zero-padded number, octal to yaml.v3",
        `${region}  foobar:keyName: 0123\n`,
        /foobar:keyName=0123: .*passes on as "83".*quote it \("0123"\)/,
    ],
    [
        "0123 as a key name",
        `${region}  0123: 3\n`,
        /^Pulumi\.t\.yaml: the key 0123 is a YAML number, not a name, and the Pulumi CLI refuses it; keys are <namespace>:<name>/,
    ],
    ["a number nested in an object value", `${region}  pulumi:tags:\n    team: 0x1F\n`, /pulumi:tags=0x1F: .*passes on as "31"/],
    [
        "a second YAML document, which the CLI ignores",
        `${region}---\nconfig:\n  foobar:webCount: 5\n`,
        /^Pulumi\.t\.yaml: holds more than one YAML document; Pulumi reads only the first/,
    ],
    [
        "one setting under two spellings",
        `${region}  webCount: 3\n  foobar:webCount: 4\n`,
        /^Pulumi\.t\.yaml: webCount and foobar:webCount are the same setting, foobar:webCount, given twice; .*remove one of the lines$/,
    ],
    ["a blank key name", `${region}  "   ": 3\n`, /^Pulumi\.t\.yaml: " {3}" is not a configuration key: a namespace or name is blank/],
    ["a key with a zero-width space", `${region}  "web\u200bCount": 3\n`, /is not a configuration key: .*invisible character/],
    [
        "a .yml stack file beside Pulumi.yaml",
        region,
        /^Pulumi\.t\.yml is never read by Pulumi: a stack file takes the extension of the project file \(Pulumi\.yaml\), so rename it to Pulumi\.t\.yaml$/,
        "Pulumi.t.yml",
    ],

    // Refused by the program's checks (config.ts): each names both keys and the fix.
    [
        "a misspelt setting",
        `${region}  foobar:webCout: 3\n`,
        /^invalid config webCout="3": is not a setting of this program; did you mean "webCount"\?/,
    ],
    [
        "arm64 with the default x86 types",
        `${region}  foobar:architecture: arm64\n`,
        /^invalid config lbInstanceType="t3\.micro": is an x86_64 instance type but architecture is arm64; set lbInstanceType to an arm64 type such as t4g\.micro or architecture to x86_64$/,
    ],
    [
        "a Graviton type on x86_64",
        `${region}  foobar:webInstanceType: t4g.small\n`,
        /^invalid config webInstanceType="t4g\.small": is an arm64 instance type but architecture is x86_64; set webInstanceType to an x86_64 type such as t3\.small or architecture to arm64$/,
    ],
    [
        "an instance type EC2 does not have",
        `${region}  foobar:dbInstanceType: t3.smal\n`,
        /^invalid config dbInstanceType="t3\.smal": is not an EC2 instance type; did you mean "t3\.small"\?/,
    ],
    [
        "an instance type of no EC2 shape",
        `${region}  foobar:dbInstanceType: big.box\n`,
        /^invalid config dbInstanceType="big\.box": is not an EC2 instance type; use one such as t3\.small/,
    ],
    [
        "alarmEmail with monitoring off",
        `${region}  foobar:monitoring: false\n  foobar:alarmEmail: ops@foobar.com\n`,
        /^invalid config alarmEmail="ops@foobar\.com": monitoring is false.*set monitoring: true or remove alarmEmail$/,
    ],
    [
        "domain with www.",
        `${region}  foobar:domain: www.foobar.com\n  foobar:hostedZoneId: Z0123456789ABC\n`,
        /^invalid config domain="www\.foobar\.com": the program adds the www record itself \(this would plan www\.www\.foobar\.com\); set domain to foobar\.com$/,
    ],
    [
        "SSH open to the world without saying so",
        `${region}  foobar:adminCidr: 0.0.0.0/0\n`,
        /^invalid config adminCidr="0\.0\.0\.0\/0": opens SSH on every instance to the whole internet; set adminCidr to your own range .* or set allowSshFromAnywhere: true/,
    ],
    [
        "SSH open to half the internet: a range wider than /8 is no admin network",
        `${region}  foobar:adminCidr: 128.0.0.0/1\n`,
        /^invalid config adminCidr="128\.0\.0\.0\/1": opens SSH on every instance to the internet: a range wider than \/8 is no admin network; set adminCidr to your own range .* or set allowSshFromAnywhere: true to accept that$/,
    ],
    [
        "SSH open to the other half",
        `${region}  foobar:adminCidr: 0.0.0.0/1\n`,
        /adminCidr="0\.0\.0\.0\/1": opens SSH on every instance to the internet/,
    ],
    [
        "SSH open to a /7",
        `${region}  foobar:adminCidr: 10.0.0.0/7\n`,
        /adminCidr="10\.0\.0\.0\/7": opens SSH on every instance to the internet/,
    ],
    [
        "a region that does not exist",
        "config:\n  aws:region: us-east-9\n",
        /^invalid config aws:region="us-east-9": is not an AWS region; did you mean "us-east-1"\? regions: af-south-1, /,
    ],
    [
        "a region of another partition (China)",
        "config:\n  aws:region: cn-north-1\n",
        /^invalid config aws:region="cn-north-1": is a region of another AWS partition.*use a region of the aws partition such as eu-west-1$/,
    ],
    ["a GovCloud region", "config:\n  aws:region: us-gov-west-1\n", /aws:region="us-gov-west-1": is a region of another AWS partition/],
    [
        "a zero-width space in a value",
        `${region}  foobar:keyName: "deploy\u200b"\n`,
        /^invalid config keyName="deploy\u200b": holds an invisible character, U\+200B, at position 6 .*retype the value without it$/,
    ],
    ["a no-break space in the region", 'config:\n  aws:region: "eu-west-1\u00a0"\n', /aws:region=.*invisible character, U\+00A0/],
    [
        "a domain whose www record is over 253 characters",
        `${region}  foobar:domain: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddddddddd.com\n  foobar:hostedZoneId: Z0123456789ABC\n`,
        /^invalid config domain=.*the program adds the record www\.a+… under it, 254 characters, and a DNS name holds at most 253; use a name of at most 249 characters$/,
    ],
    [
        "an internal zone whose database records are over 253 characters",
        `${region}  foobar:internalZone: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddd.internal\n`,
        /^invalid config internalZone=.*the program adds the record db-writer\.a+… under it, 259 characters, and a DNS name holds at most 253; use a name of at most 243 characters$/,
    ],
    [
        "a Galera third zone AWS refuses by default: 10.0.1.0/25 beside 10.0.0.0/24 (the 10.0.0.0/15 rule)",
        `${region}  foobar:vpcCidr: 10.0.0.0/24\n  foobar:database: galera\n`,
        /^invalid config thirdZoneCidr=undefined: .*the default one, 10\.0\.1\.0\/25 \(right after vpcCidr\), is in 10\.0\.0\.0\/16 while vpcCidr 10\.0\.0\.0\/24 is in 10\.0\.0\.0\/15, and AWS refuses that pair; set thirdZoneCidr to a free \/25 such as 100\.64\.0\.0\/25/,
    ],
    [
        "a loopback VPC",
        `${region}  foobar:vpcCidr: 127.0.0.0/16\n`,
        /^invalid config vpcCidr="127\.0\.0\.0\/16": lies in loopback \(127\.0\.0\.0\/8\), which no VPC can use; use a private range such as 10\.0\.0\.0\/16$/,
    ],
    ["a multicast VPC", `${region}  foobar:vpcCidr: 239.1.0.0/16\n`, /vpcCidr="239\.1\.0\.0\/16": lies in multicast \(224\.0\.0\.0\/4\)/],
    ["a VPC at 0.0.0.0", `${region}  foobar:vpcCidr: 0.0.0.0/16\n`, /vpcCidr="0\.0\.0\.0\/16": lies in "this network" \(0\.0\.0\.0\/8\)/],
    ["a link-local VPC", `${region}  foobar:vpcCidr: 169.254.0.0/16\n`, /vpcCidr="169\.254\.0\.0\/16": lies in link-local/],
    [
        "zero-padded octets",
        `${region}  foobar:vpcCidr: 010.0.0.0/16\n`,
        /^invalid config vpcCidr="010\.0\.0\.0\/16": numbers must not have leading zeros; did you mean 10\.0\.0\.0\/16\?$/,
    ],
    [
        "a zero-padded admin CIDR",
        `${region}  foobar:adminCidr: 198.51.100.07/32\n`,
        /adminCidr="198\.51\.100\.07\/32": numbers must not have leading zeros; did you mean 198\.51\.100\.7\/32\?/,
    ],
];

describe("a stack file yields a plan exactly when it is valid", () => {
    const dir = scratchProject();
    dirs.push(dir);

    test.each(cases)("%s", async (_what, text, expected, file = "Pulumi.t.yaml") => {
        for (const f of fs.readdirSync(dir).filter((f) => /^Pulumi\.t\./.test(f))) fs.rmSync(path.join(dir, f));
        fs.writeFileSync(path.join(dir, file), text);
        const outcome = await planStack("t", dir).then(
            (plan) => ({ plan }),
            (error: Error) => ({ error }),
        );
        if (expected instanceof RegExp) {
            // Refused: no plan, one line naming what to fix.
            expect("plan" in outcome ? "a plan was produced" : outcome.error.message).toMatch(expected);
            expect("error" in outcome && outcome.error.message).not.toContain("\n");
        } else {
            if ("error" in outcome) throw outcome.error;
            expected(outcome.plan);
        }
    });
});

describe("finding stack files", () => {
    test("Pulumi reads Pulumi.<stack> with the project file's extension, nothing else", () => {
        const dir = scratchProject();
        dirs.push(dir);
        for (const f of ["Pulumi.a.yaml", "Pulumi.b.yml", "Pulumi.c.json", "Pulumi.a.yaml.bak", "Pulumi.yml.txt"])
            fs.writeFileSync(path.join(dir, f), region);
        fs.mkdirSync(path.join(dir, "Pulumi.d.yaml"));
        expect(stackFiles(dir)).toEqual([{ stack: "a", file: "Pulumi.a.yaml" }]);
        expect(listStacks(dir)).toEqual(["a"]);
        expect(ignoredStackFiles(dir).map((f) => f.file)).toEqual(["Pulumi.b.yml", "Pulumi.c.json"]);
    });

    test("stackConfigDir moves the stack files, as Pulumi.yaml says", () => {
        const dir = scratchProject();
        dirs.push(dir);
        fs.appendFileSync(path.join(dir, "Pulumi.yaml"), "stackConfigDir: stacks\n");
        fs.mkdirSync(path.join(dir, "stacks"));
        fs.writeFileSync(path.join(dir, "stacks", "Pulumi.s.yaml"), `${region}  webCount: 5\n`);
        fs.writeFileSync(path.join(dir, "Pulumi.root.yaml"), region);
        expect(stackFiles(dir)).toEqual([{ stack: "s", file: "stacks/Pulumi.s.yaml" }]);
        expect(loadStackConfig("s", dir).config["foobar:webCount"]).toBe("5");
        expect(() => loadStackConfig("root", dir)).toThrow("no stack file stacks/Pulumi.root.yaml; stacks in this project: s");
    });

    test.each([
        ["", /it is empty/],
        ["a".repeat(101), /it has 101 characters/],
        ["org/dev", /"\/" at position 3 is not allowed/],
        ["dev env", /" " at position 3 is not allowed/],
    ])("stack name %j is refused, saying which characters Pulumi allows", (name, problem) => {
        expect(() => checkStackName(name)).toThrow(UsageError);
        expect(() => checkStackName(name)).toThrow(problem);
        expect(() => checkStackName(name)).toThrow(
            /a stack name is 1 to 100 letters, digits, hyphens \(-\), underscores \(_\) or periods \(\.\)/,
        );
    });

    test.each(["dev", "prod-eu.2", "A_b", "a".repeat(100)])("stack name %j is accepted", (name) => {
        expect(() => checkStackName(name)).not.toThrow();
    });
});

describe("a Pulumi.<name>.yml stack in a Pulumi.yml project works in every command", () => {
    const dir = scratchProject("Pulumi.yml");
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, "Pulumi.staging.yml"), `${region}  webCount: 3\n`);
    const cli = (tool: string, ...args: string[]) =>
        spawnSync(
            process.execPath,
            ["-r", require.resolve("ts-node/register/transpile-only"), path.join(root, "tools", tool, "cli.ts"), ...args],
            {
                cwd: dir,
                // ts-node looks for a tsconfig from the working directory: point it at the repository's.
                env: { ...process.env, TS_NODE_PROJECT: path.join(root, "tsconfig.json") },
                encoding: "utf8",
                timeout: 120000,
            },
        );

    test("preview:offline", () => {
        const r = cli("preview", "--stack", "staging", "--json");
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const plan = JSON.parse(r.stdout) as OfflinePlan;
        expect(plan.resources.filter((x) => x.type === "aws:ec2/instance:Instance" && /^web-/.test(x.name))).toHaveLength(3);
    });

    test("policy:check", () => {
        const r = cli("policy-check", "--stack", "staging", "--json");
        expect(r.status).toBe(0);
        expect(
            (JSON.parse(r.stdout) as { violations: { urn: string }[] }).violations.some((v) => v.urn.startsWith("urn:pulumi:staging::")),
        ).toBe(true);
    });

    test("the CI matrix", () => {
        fs.symlinkSync(path.join(root, ".github"), path.join(dir, ".github"));
        const step = must(stepById(jobOf(loadWorkflow("pull-request.yml"), "stacks"), "matrix").run, "matrix step");
        const r = runStep(step, { cwd: dir });
        expect(r.status).toBe(0);
        expect(JSON.parse(must(r.outputs.matrix, "matrix"))).toEqual({
            include: [{ stack: "staging", file: "Pulumi.staging.yml", policyConfig: "policies/config/dev.json", region: "eu-west-1" }],
        });
    });

    test("a refused stack file exits 2 with one line on stderr and nothing on stdout", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.broken.yml"), `${region}  foobarr:webCount: 3\n`);
        for (const tool of ["preview", "policy-check"]) {
            const r = cli(tool, "--stack", "broken");
            expect([tool, r.status, r.stdout]).toEqual([tool, 2, ""]);
            expect(r.stderr).toMatch(/^error: Pulumi\.broken\.yml: foobarr:webCount: "foobarr" is not a namespace this program reads.*\n$/);
        }
    });
});
