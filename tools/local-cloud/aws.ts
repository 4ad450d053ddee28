/**
 * AWS as the instances meet it, emulated by established engines:
 * - the AWS APIs: moto's server (pinned in scripts/setup.sh), in the internet namespace, behind an HAProxy TLS front
 *   at `awsEndpointAddress` that presents a certificate of the local cloud's CA for the real endpoint names
 *   (`ssm.<region>.amazonaws.com`, …). The image trusts that CA as an AMI trusts Amazon's, so boto3 and the AWS CLI
 *   run unchanged;
 * - the VPC resolver (AmazonProvidedDNS at the VPC's +2 address): unbound in the VPC namespace, answering the private
 *   hosted zone's records and the AWS endpoint names (with the front's address), and nothing else;
 * - each instance's metadata service (IMDSv2 only, at 169.254.169.254): AWS's amazon-ec2-metadata-mock, outside the
 *   instance in the VPC namespace, with its identity (instance id, region, zone) and its role's credentials.
 *
 * What they do not model: IAM enforcement (tests/iam simulates the policies instead), throttling and eventual consistency.
 */
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { intToIp, ipToInt } from "../../config";
import { BRIDGE, internetNetns, vpcNetns } from "./network";
import { cacheDir, log, pollUntilReady, run, runSync, stateDir } from "./util";

/** The emulators, as scripts/setup.sh installs them. */
export const emulators = {
    moto: "/opt/foobar-moto/bin/moto_server",
    motoPython: "/opt/foobar-moto/bin/python",
    metadataMock: "/opt/foobar-go/bin/ec2-metadata-mock",
};

/** Where AWS's regional endpoints answer, on the internet side (RFC 5737 TEST-NET-1, beside the internet link's client). */
export const awsEndpointAddress = "192.0.2.20";
/** moto's server, behind the front, on the internet namespace's loopback. */
const motoPort = 5000;
/** The instance metadata service's address, as on EC2. */
export const metadataAddress = "169.254.169.254";
/** The first of the ports the instances' metadata emulators listen on in the VPC namespace, one each. */
export const metadataPortBase = 10_001;

function awsDir(): string {
    return path.join(stateDir(), "aws");
}

/** The local cloud's certificate authority: made once, kept with the image (which trusts it), never in the repository. */
export function localCa(): { certPath: string; keyPath: string } {
    const dir = path.join(cacheDir(), "ca");
    const certPath = path.join(dir, "foobar-local-cloud-ca.crt");
    const keyPath = path.join(dir, "foobar-local-cloud-ca.key");
    if (!fs.existsSync(certPath) || !fs.existsSync(keyPath)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const tmpKey = `${keyPath}.tmp-${process.pid}`;
        const tmpCert = `${certPath}.tmp-${process.pid}`;
        const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        runSync("openssl", [
            "req",
            "-x509",
            ...ecKey,
            "-days",
            "3650",
            "-subj",
            "/CN=foobar local cloud CA",
            "-keyout",
            tmpKey,
            "-out",
            tmpCert,
        ]);
        fs.chmodSync(tmpKey, 0o600);
        fs.renameSync(tmpKey, keyPath);
        fs.renameSync(tmpCert, certPath);
    }
    return { certPath, keyPath };
}

/** The front's certificate and key (one PEM), for every endpoint name of the region, signed by the local CA. */
function frontPem(region: string): string {
    const dir = awsDir();
    const ca = localCa();
    const key = path.join(dir, "front.key");
    const csr = path.join(dir, "front.csr");
    const cert = path.join(dir, "front.crt");
    const ext = path.join(dir, "front.ext");
    fs.writeFileSync(ext, `subjectAltName=DNS:*.${region}.amazonaws.com,DNS:*.amazonaws.com\nextendedKeyUsage=serverAuth\n`);
    runSync("openssl", [
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=amazonaws.com",
        "-keyout",
        key,
        "-out",
        csr,
    ]);
    runSync("openssl", [
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca.certPath,
        "-CAkey",
        ca.keyPath,
        "-set_serial",
        `0x${crypto.randomBytes(8).toString("hex")}`,
        "-days",
        "365",
        "-extfile",
        ext,
        "-out",
        cert,
    ]);
    const pem = path.join(dir, "front.pem");
    fs.writeFileSync(pem, fs.readFileSync(cert, "utf8") + fs.readFileSync(key, "utf8"), { mode: 0o600 });
    return pem;
}

/** The TLS front: HAProxy, HTTP mode, so moto routes each request by its Host header (the endpoint name) as AWS does. */
export function renderFrontConfig(pem: string): string {
    return [
        "# The local cloud's AWS endpoint: TLS for the real endpoint names, in front of moto's server.",
        "global",
        "    maxconn 1000",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "frontend aws",
        `    bind ${awsEndpointAddress}:443 ssl crt ${pem}`,
        "    default_backend moto",
        "backend moto",
        `    server moto 127.0.0.1:${motoPort}`,
        "",
    ].join("\n");
}

/** Starts a daemon in a namespace, detached, its output in the cloud's log dir; it lives as long as the namespace (deleteNetns kills it). */
function startIn(netns: string, name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
    const logFile = path.join(stateDir(), "logs", `${name}.log`);
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const out = fs.openSync(logFile, "a");
    const child = spawn("ip", ["netns", "exec", netns, cmd, ...args], {
        detached: true,
        stdio: ["ignore", out, out],
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
    });
    fs.closeSync(out);
    child.unref();
}

function listening(netns: string, address: string, port: number, proto: "tcp" | "udp" = "tcp"): boolean {
    try {
        const flags = proto === "tcp" ? "-Hltn" : "-Hlun";
        return runSync("ip", ["netns", "exec", netns, "ss", flags, "src", `${address}:${port}`]).trim() !== "";
    } catch {
        return false;
    }
}

async function waitListening(what: string, netns: string, address: string, port: number, proto: "tcp" | "udp" = "tcp"): Promise<void> {
    await pollUntilReady({
        what,
        timeoutMs: 60_000,
        intervalMs: 200,
        probe: async () =>
            listening(netns, address, port, proto) ? { ready: true } : { notYet: `nothing listens on ${address}:${port}/${proto}` },
        hint: () => `its log: ${path.join(stateDir(), "logs")}`,
    });
}

/** The AWS APIs at their endpoint names, in the internet namespace (createInternet first). Idempotent. */
export async function startAwsApis(region: string): Promise<void> {
    for (const tool of [emulators.moto, "/usr/sbin/haproxy"]) {
        if (!fs.existsSync(tool)) throw new Error(`${tool} is missing; run: bash scripts/setup.sh`);
    }
    fs.mkdirSync(awsDir(), { recursive: true, mode: 0o700 });
    const netns = internetNetns();
    runSync("ip", ["-n", netns, "addr", "replace", `${awsEndpointAddress}/32`, "dev", "lo"]);
    if (!listening(netns, "127.0.0.1", motoPort)) {
        log(`AWS APIs: moto's server in ${netns}`);
        startIn(netns, "aws-moto", emulators.moto, ["-H", "127.0.0.1", "-p", String(motoPort)]);
    }
    if (!listening(netns, awsEndpointAddress, 443)) {
        const config = path.join(awsDir(), "front.cfg");
        fs.writeFileSync(config, renderFrontConfig(frontPem(region)));
        runSync("haproxy", ["-c", "-q", "-f", config]);
        startIn(netns, "aws-front", "/usr/sbin/haproxy", ["-Ws", "-f", config]);
    }
    await waitListening("moto's server", netns, "127.0.0.1", motoPort);
    await waitListening("the AWS endpoint's TLS front", netns, awsEndpointAddress, 443);
}

/** One call of the SDK against the emulated APIs (moto's own boto3, from the internet namespace). */
async function ssmCall(script: string, input: unknown): Promise<string> {
    const r = await run("ip", ["netns", "exec", internetNetns(), emulators.motoPython, "-c", script], {
        check: true,
        timeoutMs: 120_000,
        env: { PATH: "/usr/bin:/bin", MOTO_URL: `http://127.0.0.1:${motoPort}`, INPUT: JSON.stringify(input) },
    });
    return r.stdout;
}

const ssmClient = `import boto3, json, os, sys
ssm = boto3.client("ssm", endpoint_url=os.environ["MOTO_URL"], region_name=json.loads(os.environ["INPUT"])["region"],
                   aws_access_key_id="local", aws_secret_access_key="local")
`;

export interface Parameter {
    name: string;
    value: string;
    /** SecureString for secrets (the deploy's generated passwords and keys), String for published settings. */
    type: "SecureString" | "String";
}

/** Creates or overwrites parameters in the emulated Parameter Store, as the deploy does. */
export async function putParameters(region: string, parameters: Parameter[]): Promise<void> {
    await ssmCall(
        ssmClient +
            `for p in json.loads(os.environ["INPUT"])["parameters"]:
    ssm.put_parameter(Name=p["name"], Value=p["value"], Type=p["type"], Overwrite=True)
`,
        { region, parameters },
    );
}

/** A parameter's value (decrypted), or undefined when there is none. */
export async function getParameter(region: string, name: string): Promise<string | undefined> {
    const out = await ssmCall(
        ssmClient +
            `try:
    print(json.dumps(ssm.get_parameter(Name=json.loads(os.environ["INPUT"])["name"], WithDecryption=True)["Parameter"]["Value"]))
except ssm.exceptions.ParameterNotFound:
    print("null")
`,
        { region, name },
    );
    return (JSON.parse(out) as string | null) ?? undefined;
}

/** The VPC resolver's address: the primary block's base plus two, as AmazonProvidedDNS. */
export function resolverAddress(vpcCidr: string): string {
    return intToIp(ipToInt(vpcCidr.split("/")[0]) + 2);
}

/** A private hosted zone as the resolver serves it: its name and its A records (name → addresses). */
export interface PrivateZone {
    name: string;
    records: Record<string, string[]>;
}

/**
 * unbound's configuration: the private hosted zone's records (TTL 30 s, as the program's), the AWS endpoint names
 * (every name under amazonaws.com), and nothing else; no recursion. Byte-stable: sorted records.
 */
export function renderResolverConfig(address: string, zone: PrivateZone): string {
    const records = Object.entries(zone.records)
        .sort(([a], [b]) => a.localeCompare(b))
        .flatMap(([name, addresses]) => [...addresses].sort().map((a) => `    local-data: "${name}. 30 IN A ${a}"`));
    return [
        "# The local cloud's VPC resolver (AmazonProvidedDNS): the private hosted zone and AWS's endpoint names, nothing else.",
        "server:",
        `    interface: ${address}`,
        "    do-daemonize: no",
        '    username: ""',
        '    chroot: ""',
        '    pidfile: ""',
        "    use-syslog: no",
        '    logfile: ""',
        "    access-control: 0.0.0.0/0 allow",
        `    local-zone: "${zone.name}." static`,
        ...records,
        '    local-zone: "amazonaws.com." redirect',
        `    local-data: "amazonaws.com. 60 IN A ${awsEndpointAddress}"`,
        // Every other name: no such domain, answered at once (the VPC has no other way out to ask).
        '    local-zone: "." static',
        "",
    ].join("\n");
}

/**
 * The resolver's address in the VPC namespace and unbound on it, serving `zone`. Idempotent; a changed zone
 * (a rollout that adds a replica) restarts it with the new records. Returns the address.
 */
export async function startResolver(vpcCidr: string, zone: PrivateZone): Promise<string> {
    const address = resolverAddress(vpcCidr);
    const prefix = vpcCidr.split("/")[1];
    runSync("ip", ["-n", vpcNetns(), "addr", "replace", `${address}/${prefix}`, "dev", BRIDGE]);
    fs.mkdirSync(awsDir(), { recursive: true, mode: 0o700 });
    const config = path.join(awsDir(), "resolver.conf");
    const text = renderResolverConfig(address, zone);
    const current = fs.existsSync(config) ? fs.readFileSync(config, "utf8") : undefined;
    const running = listening(vpcNetns(), address, 53, "udp");
    if (!running || current !== text) {
        fs.writeFileSync(config, text);
        runSync("unbound-checkconf", [config]);
        if (running) await stopListener(vpcNetns(), address, 53);
        startIn(vpcNetns(), "vpc-resolver", "/usr/sbin/unbound", ["-c", config]);
        await waitListening("the VPC resolver", vpcNetns(), address, 53, "udp");
    }
    // What an instance's DHCP options would give it: the resolver, bind-mounted as its /etc/resolv.conf. Written only when
    // it changes: instances hold this very inode, and a rewrite in place shows them an empty file for a moment.
    const resolvConf = `nameserver ${address}\n`;
    if (!fs.existsSync(resolvConfFile()) || fs.readFileSync(resolvConfFile(), "utf8") !== resolvConf)
        fs.writeFileSync(resolvConfFile(), resolvConf);
    return address;
}

/** Stops whatever listens on a UDP address in a namespace (the resolver before a restart). */
async function stopListener(netns: string, address: string, port: number): Promise<void> {
    const out = runSync("ip", ["netns", "exec", netns, "ss", "-Hlunp", "src", `${address}:${port}`]);
    for (const m of out.matchAll(/pid=(\d+)/g)) process.kill(Number(m[1]), "SIGTERM");
    await pollUntilReady({
        what: `the old listener on ${address}:${port}`,
        timeoutMs: 10_000,
        intervalMs: 100,
        probe: async () => (listening(netns, address, port, "udp") ? { notYet: "still listening" } : { ready: true }),
    });
}

export function resolvConfFile(): string {
    return path.join(awsDir(), "resolv.conf");
}

/** What an instance's metadata service says about it. */
export interface InstanceIdentity {
    instanceId: string;
    region: string;
    availabilityZone: string;
    /** The instance profile's role: its temporary credentials are served under this name. */
    roleName: string;
}

/** A stable instance id for a container of a cloud (i- and 17 hex digits, as EC2's). */
export function instanceIdOf(cloud: string, name: string): string {
    return `i-${crypto.createHash("sha256").update(`${cloud}/${name}`).digest("hex").slice(0, 17)}`;
}

/** amazon-ec2-metadata-mock's configuration for an instance (its keys: pkg/config/defaults in the module). */
export function metadataConfig(identity: InstanceIdentity): unknown {
    return {
        metadata: {
            paths: { "iam-security-credentials": `/latest/meta-data/iam/security-credentials/${identity.roleName}` },
            values: {
                "instance-id": identity.instanceId,
                "placement-region": identity.region,
                "placement-availability-zone": identity.availabilityZone,
                "iam-security-credentials-role": identity.roleName,
                "iam-security-credentials": {
                    Code: "Success",
                    LastUpdated: "2026-01-01T00:00:00Z",
                    Type: "AWS-HMAC",
                    // moto accepts any key; these never leave the local cloud.
                    AccessKeyId: "ASIALOCALCLOUD000000",
                    SecretAccessKey: "local-cloud-emulated-credentials",
                    Token: "local-cloud-emulated-session-token",
                    Expiration: "2099-01-01T00:00:00Z",
                },
            },
        },
    };
}

/**
 * The instances' metadata services live outside them, in the VPC namespace, as EC2's is outside the instance: one
 * emulator per instance on its own port of 169.254.169.254 there, and a DNAT by source address sends what an
 * instance asks 169.254.169.254:80 to its own (an emulator inside the instance's namespace would take port 80 from
 * nginx and HAProxy). The ports are kept in the cloud's state, one per instance name.
 */
function metadataPorts(): Record<string, { port: number; address: string }> {
    try {
        return JSON.parse(fs.readFileSync(path.join(awsDir(), "metadata-ports.json"), "utf8")) as Record<
            string,
            { port: number; address: string }
        >;
    } catch {
        return {};
    }
}

/** The DNAT table that routes each instance's metadata requests to its emulator: byte-stable, replaced whole. */
export function renderMetadataNat(bridge: string, entries: Record<string, { port: number; address: string }>): string {
    const rules = Object.entries(entries)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(
            ([name, e]) =>
                `\t\tiifname "${bridge}" ip saddr ${e.address} ip daddr ${metadataAddress} tcp dport 80 dnat ip to ${metadataAddress}:${e.port} comment "${name}"`,
        );
    return [
        "# Each instance's metadata requests to its own emulator (tools/local-cloud/aws.ts).",
        "add table ip instance-metadata",
        "delete table ip instance-metadata",
        "table ip instance-metadata {",
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority dstnat; policy accept;",
        ...rules,
        "\t}",
        "}",
        "",
    ].join("\n");
}

/** Starts an instance's metadata service (before the instance boots) and routes its requests there. Idempotent. */
export async function startMetadata(name: string, address: string, identity: InstanceIdentity): Promise<void> {
    if (!fs.existsSync(emulators.metadataMock)) throw new Error(`${emulators.metadataMock} is missing; run: bash scripts/setup.sh`);
    fs.mkdirSync(awsDir(), { recursive: true, mode: 0o700 });
    const netns = vpcNetns();
    runSync("ip", ["-n", netns, "addr", "replace", `${metadataAddress}/32`, "dev", "lo"]);
    const ports = metadataPorts();
    const used = new Set(Object.values(ports).map((e) => e.port));
    let port = ports[name]?.port;
    for (let candidate = metadataPortBase; port === undefined; candidate++) if (!used.has(candidate)) port = candidate;
    ports[name] = { port, address };
    fs.writeFileSync(path.join(awsDir(), "metadata-ports.json"), JSON.stringify(ports, null, 2) + "\n");
    const nat = path.join(awsDir(), "metadata-nat.nft");
    fs.writeFileSync(nat, renderMetadataNat(BRIDGE, ports));
    runSync("ip", ["netns", "exec", netns, "nft", "-f", nat]);
    if (listening(netns, metadataAddress, port)) return;
    const dir = path.join(awsDir(), "metadata", name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const config = path.join(dir, "aemm-config.json");
    fs.writeFileSync(config, JSON.stringify(metadataConfig(identity), null, 2) + "\n");
    startIn(netns, `${name}-metadata`, emulators.metadataMock, ["-n", metadataAddress, "-p", String(port), "--imdsv2", "-c", config], {
        HOME: dir,
    });
    await waitListening(`${name}'s metadata service`, netns, metadataAddress, port);
}
