/**
 * The AWS secret fetcher run for real (Debian's python3 and botocore 1.29) against moto's SSM and AWS's IMDS
 * emulator on loopback, as the setup scripts call it: with no AWS_DEFAULT_REGION in its environment
 * (setup-web.sh, setup-lb.sh and setup-keepalived.sh source only foobar.env; foobar-lb-config.service has no
 * EnvironmentFile). Credentials come from the instance role through IMDS, as on EC2.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { boto3Against, scriptEnv, StandIn, startImds, startMoto } from "../../../awsStandIns";

const script = path.join(__dirname, "../../../../userdata/files/scripts/fetch-secret-aws.py");
const parameter = "/foobar/dev/web/app-password";

let moto: StandIn;
let imds: StandIn;

beforeAll(async () => {
    [moto, imds] = await Promise.all([
        startMoto(),
        startImds({
            "placement-availability-zone": "eu-west-3b",
            "placement-region": "eu-west-3",
            "iam-security-credentials": {
                Code: "Success",
                LastUpdated: "2026-01-01T00:00:00Z",
                Type: "AWS-HMAC",
                AccessKeyId: "ASIAEXAMPLEROLEKEY",
                SecretAccessKey: "example-secret",
                Token: "example-token",
                Expiration: "2099-01-01T00:00:00Z",
            },
        }),
    ]);
    // One value per region: the output says which region the fetcher asked.
    boto3Against(
        moto,
        `for region in ("eu-west-3", "us-east-2"):
    client("ssm", region).put_parameter(Name=${JSON.stringify(parameter)}, Type="SecureString", Value="secret-in-" + region)`,
    );
}, 60_000);

afterAll(() => {
    moto?.stop();
    imds?.stop();
});

function fetchSecret(extra: NodeJS.ProcessEnv = {}) {
    // A fetcher that cannot get going retries every 5 s for 150 s: 20 s is ample for one that works.
    const r = spawnSync("/usr/bin/python3", [script, parameter], {
        encoding: "utf8",
        env: scriptEnv(imds, { SSM_ENDPOINT_URL: moto.url, ...extra }),
        timeout: 20_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("without AWS_DEFAULT_REGION it asks IMDSv2 for the instance's region and prints the decrypted value", () => {
    expect(fetchSecret()).toEqual({ code: 0, stdout: "secret-in-eu-west-3", stderr: "" });
});

test("AWS_DEFAULT_REGION, when a caller sets it, wins over IMDS", () => {
    expect(fetchSecret({ AWS_DEFAULT_REGION: "us-east-2" })).toEqual({ code: 0, stdout: "secret-in-us-east-2", stderr: "" });
});
