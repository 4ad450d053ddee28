/**
 * The AWS notify script that moves the pair's Elastic IP, run for real (Debian's python3 and boto3) against
 * stand-ins on loopback for the instance metadata service (IMDSv2: no token, no answer) and the EC2 API, whose
 * first AssociateAddress fails the way EC2 refuses an instance that is not ready yet.
 */
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import { tempDir } from "../../../helpers";

const script = path.join(__dirname, "../../../../userdata/files/keepalived/take-public-address-aws.py");

const standIn = String.raw`
import http.server, json, sys, urllib.parse
calls = []
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def reply(self, status, body):
        self.send_response(status); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_PUT(self):
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200 if ok else 400, b"TOKEN")
    def do_GET(self):
        if self.path == "/latest/meta-data/instance-id" and self.headers.get("X-aws-ec2-metadata-token") == "TOKEN":
            self.reply(200, b"i-0123456789abcdef0")
        else:
            self.reply(401, b"")
    def do_POST(self):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        calls.append(form)
        with open(sys.argv[1], "w") as f: json.dump(calls, f)
        ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
        if form["Action"] == "AssociateAddress" and len([c for c in calls if c["Action"] == "AssociateAddress"]) == 1:
            self.reply(400, b"<Response><Errors><Error><Code>IncorrectInstanceState</Code><Message>not ready</Message></Error></Errors><RequestID>r1</RequestID></Response>")
        elif form["Action"] == "AssociateAddress":
            self.reply(200, f"<AssociateAddressResponse {ns}><requestId>r2</requestId><associationId>eipassoc-1</associationId></AssociateAddressResponse>".encode())
        else:
            holder = [c for c in calls if c["Action"] == "AssociateAddress"][-1]["InstanceId"]
            self.reply(200, f"<DescribeAddressesResponse {ns}><requestId>r3</requestId><addressesSet><item><publicIp>203.0.113.5</publicIp><allocationId>eipalloc-0123456789abcdef0</allocationId><domain>vpc</domain><instanceId>{holder}</instanceId></item></addressesSet></DescribeAddressesResponse>".encode())
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
`;

test("takes the address with an IMDSv2 token and --allow-reassociation, retries a refusal, confirms, and logs each step", async () => {
    const dir = tempDir("take-address");
    const callsFile = path.join(dir, "calls.json");
    fs.writeFileSync(
        path.join(dir, "target.env"),
        'TARGET="aws"\nAWS_DEFAULT_REGION="eu-west-1"\nPUBLIC_ADDRESS_ALLOCATION_ID="eipalloc-0123456789abcdef0"\n',
    );
    const server = spawn("/usr/bin/python3", ["-c", standIn, callsFile], { stdio: ["ignore", "pipe", "inherit"] });
    try {
        const port = await new Promise<string>((resolve) => server.stdout.once("data", (d: Buffer) => resolve(d.toString().trim())));
        const url = `http://127.0.0.1:${port}`;
        const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn("/usr/bin/python3", [script, "MASTER"], {
                env: {
                    PATH: process.env.PATH,
                    TARGET_ENV: path.join(dir, "target.env"),
                    IMDS_URL: url,
                    EC2_ENDPOINT_URL: url,
                    AWS_ACCESS_KEY_ID: "test",
                    AWS_SECRET_ACCESS_KEY: "test",
                    AWS_EC2_METADATA_DISABLED: "true",
                },
            });
            let stderr = "";
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            child.on("close", (code) => resolve({ code, stderr }));
        });
        expect(result.stderr).toMatch(/attempt 1\/10: .*IncorrectInstanceState/);
        expect(result.stderr).toMatch(/eipalloc-0123456789abcdef0 is associated with i-0123456789abcdef0 \(attempt 2\)/);
        expect(result.code).toBe(0);
        const calls = JSON.parse(fs.readFileSync(callsFile, "utf8")) as Record<string, string>[];
        expect(calls.map((c) => c.Action)).toEqual(["AssociateAddress", "AssociateAddress", "DescribeAddresses"]);
        expect(calls[1]).toMatchObject({
            AllocationId: "eipalloc-0123456789abcdef0",
            InstanceId: "i-0123456789abcdef0",
            AllowReassociation: "true",
        });
    } finally {
        server.kill();
    }
}, 30_000);
