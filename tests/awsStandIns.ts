/**
 * AWS stand-ins on loopback for tests that run the AWS scripts for real (Debian's python3 and boto3):
 * moto's server for the AWS APIs and AWS's own IMDS emulator (amazon-ec2-metadata-mock), both installed
 * pinned by scripts/setup.sh. Start each once per test file: moto's server takes a second or two to import.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { run, tempDir } from "./helpers";

export const motoServer = "/opt/foobar-moto/bin/moto_server";
export const imdsMock = "/opt/foobar-go/bin/ec2-metadata-mock";

export interface StandIn {
    url: string;
    stop(): void;
}

async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
        server.on("error", reject);
    });
}

/** Resolves once `url` answers any HTTP status; rejects when the process exits or after `timeoutMs`. */
async function answering(child: ChildProcess, url: string, timeoutMs: number, log: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`${child.spawnargs.join(" ")} exited ${child.exitCode}: ${log()}`);
        try {
            await fetch(url, { method: "PUT", signal: AbortSignal.timeout(1000) });
            return;
        } catch {
            await new Promise((r) => setTimeout(r, 100));
        }
    }
    child.kill();
    throw new Error(`${child.spawnargs.join(" ")} did not answer ${url} within ${timeoutMs} ms: ${log()}`);
}

async function start(cmd: string, args: (port: number) => string[], probePath: string, env: NodeJS.ProcessEnv): Promise<StandIn> {
    if (!fs.existsSync(cmd)) throw new Error(`${cmd} is missing: run scripts/setup.sh`);
    const port = await freePort();
    const child = spawn(cmd, args(port), { env, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    await answering(child, url + probePath, 20_000, () => log);
    return { url, stop: () => child.kill() };
}

/** moto's server: every AWS API on one endpoint, state kept per region and account. */
export function startMoto(): Promise<StandIn> {
    return start(motoServer, (port) => ["-H", "127.0.0.1", "-p", String(port)], "/moto-api/", { PATH: process.env.PATH });
}

/**
 * The instance metadata service, IMDSv2 only (as the program's launch templates require), with `values`
 * overriding the emulator's metadata defaults (its keys: pkg/config/defaults in the module).
 */
export function startImds(values: Record<string, unknown>): Promise<StandIn> {
    const dir = tempDir("imds-mock");
    const config = path.join(dir, "aemm-config.json");
    fs.writeFileSync(config, JSON.stringify({ metadata: { values } }));
    return start(imdsMock, (port) => ["-n", "127.0.0.1", "-p", String(port), "--imdsv2", "-c", config], "/latest/api/token", {
        PATH: process.env.PATH,
        HOME: dir,
    });
}

/**
 * Environment for a script under test: no credentials, region or config from this machine; credentials
 * and region come from the IMDS stand-in through botocore's own setting, and any request not to
 * loopback goes to a dead proxy (a script that ignores its endpoint knob fails instead of reaching AWS).
 */
export function scriptEnv(imds: StandIn, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const home = tempDir("aws-home");
    return {
        PATH: process.env.PATH,
        HOME: home,
        AWS_CONFIG_FILE: path.join(home, "none"),
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, "none"),
        AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
        HTTP_PROXY: "http://127.0.0.1:9",
        HTTPS_PROXY: "http://127.0.0.1:9",
        NO_PROXY: "127.0.0.1",
        ...extra,
    };
}

/** Runs Debian's python3 with boto3 against moto: `code` gets a client factory `client(service, region)`. */
export function boto3Against(moto: StandIn, code: string): string {
    const prelude = `import boto3\ndef client(service, region): return boto3.client(service, region_name=region, endpoint_url=${JSON.stringify(moto.url)}, aws_access_key_id="test", aws_secret_access_key="test")\n`;
    const result = run("/usr/bin/python3", ["-c", prelude + code], { env: { PATH: process.env.PATH, HOME: tempDir("boto3") } });
    if (result.status !== 0) throw new Error(`boto3 against moto failed: ${result.output}`);
    return result.stdout;
}
