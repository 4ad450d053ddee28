/**
 * The translation of the program's security groups into nftables: what each instance may
 * send and receive, read from the offline plan, and a ruleset the kernel's nftables accepts.
 */
import * as fs from "fs";
import * as path from "path";
import { OfflinePlan, PlannedResource, planStack } from "../../../tools/preview/plan";
import { firewallPlan, natAddress, parseProtocol, renderRuleset, RulesetNetwork } from "../../../tools/local-cloud/securityGroups";
import { run, tempDir } from "../../helpers";
import { describeLocalCloud } from "./describeLocalCloud";

const net: RulesetNetwork = { bridge: "vpc0", gateway: "igw0", portOf: (name) => `ve-${name}` };

function resource(type: string, name: string, inputs: Record<string, unknown>, outputs: Record<string, unknown> = {}): PlannedResource {
    return {
        urn: `urn:${type}::${name}`,
        type,
        name,
        custom: true,
        inputs,
        outputs,
        dependencies: [],
        options: { protect: false, ignoreChanges: [], aliases: [], deleteBeforeReplace: false, replaceOnChanges: [], dependsOn: [] },
    };
}

/** A hand-made plan: two groups, inline and standalone rules of every kind the translation knows. */
function syntheticPlan(): OfflinePlan {
    const instance = (name: string, ip: string, groups: string[], extra: Record<string, unknown> = {}) =>
        resource(
            "aws:ec2/instance:Instance",
            name,
            { privateIp: ip, vpcSecurityGroupIds: groups, tags: { Name: name }, ...extra },
            { id: `i-${name}` },
        );
    return {
        project: "foobar",
        stack: "synthetic",
        outputs: {},
        secretValues: [],
        resources: [
            resource(
                "aws:ec2/securityGroup:SecurityGroup",
                "front",
                {
                    ingress: [
                        {
                            protocol: "tcp",
                            fromPort: 8000,
                            toPort: 8100,
                            cidrBlocks: ["203.0.113.0/24"],
                            ipv6CidrBlocks: ["::/0"],
                            description: 'a "range"',
                        },
                    ],
                    egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["10.1.0.0/16"] }],
                },
                { id: "sg-front" },
            ),
            resource(
                "aws:ec2/securityGroup:SecurityGroup",
                "back",
                { ingress: [{ protocol: "112", fromPort: 0, toPort: 0, self: true, description: "VRRP" }] },
                { id: "sg-back" },
            ),
            resource("aws:ec2/securityGroupRule:SecurityGroupRule", "back-from-front", {
                type: "ingress",
                securityGroupId: "sg-back",
                protocol: "udp",
                fromPort: 53,
                toPort: 53,
                sourceSecurityGroupId: "sg-front",
            }),
            resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "back-ping", {
                securityGroupId: "sg-back",
                ipProtocol: "icmp",
                fromPort: 8,
                toPort: -1,
                cidrIpv4: "10.1.0.0/16",
                description: "ping",
            }),
            resource("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "back-out", {
                securityGroupId: "sg-back",
                ipProtocol: "tcp",
                fromPort: 443,
                toPort: 443,
                referencedSecurityGroupId: "sg-front",
            }),
            resource("aws:ec2/securityGroupRule:SecurityGroupRule", "ipv6-only", {
                type: "ingress",
                securityGroupId: "sg-back",
                protocol: "icmpv6",
                fromPort: -1,
                toPort: -1,
                ipv6CidrBlocks: ["::/0"],
            }),
            instance("front-1", "10.1.0.10", ["sg-front"], { associatePublicIpAddress: true }),
            instance("back-1", "10.1.1.10", ["sg-back"]),
            instance("back-2", "10.1.1.11", ["sg-back"]),
            resource("aws:ec2/eip:Eip", "back-2-eip", { instance: "i-back-2" }),
        ],
    };
}

test("every rule kind: protocol numbers, -1, ICMP, port ranges, CIDR, group and self sources, egress; IPv6-only rules left out", () => {
    const fw = firewallPlan(syntheticPlan());
    expect(fw.instances.map((i) => [i.name, i.privateIp, i.publicIp])).toEqual([
        ["front-1", "10.1.0.10", "198.51.100.10"],
        ["back-1", "10.1.1.10", undefined],
        ["back-2", "10.1.1.11", "198.51.100.11"],
    ]);
    const back = fw.instances[1];
    expect(back.rules).toEqual([
        {
            direction: "ingress",
            group: "back",
            description: "VRRP",
            protocol: { kind: "number", number: 112 },
            peers: ["10.1.1.10", "10.1.1.11"],
        },
        { direction: "ingress", group: "back", description: "", protocol: { kind: "udp", fromPort: 53, toPort: 53 }, peers: ["10.1.0.10"] },
        { direction: "ingress", group: "back", description: "ping", protocol: { kind: "icmp", type: 8, code: -1 }, peers: ["10.1.0.0/16"] },
        {
            direction: "egress",
            group: "back",
            description: "",
            protocol: { kind: "tcp", fromPort: 443, toPort: 443 },
            peers: ["10.1.0.10"],
        },
    ]);
    const text = renderRuleset(fw, net, "synthetic");
    expect(text).toContain('\tchain ingress-back-1 {\n\t\tip saddr 10.1.1.10 meta l4proto 112 accept comment "back: VRRP"\n');
    expect(text).toContain('\t\tip saddr 10.1.0.10 udp dport 53 accept comment "back: "\n');
    expect(text).toContain('\t\tip saddr 10.1.0.0/16 icmp type 8 accept comment "back: ping"\n');
    expect(text).toContain('\tchain egress-back-1 {\n\t\tip daddr 10.1.0.10 tcp dport 443 return comment "back: "\n\t\tdrop\n\t}\n');
    expect(text).toContain("\t\tip saddr 203.0.113.0/24 tcp dport 8000-8100 accept comment \"front: a 'range'\"\n");
    expect(text).toContain('\tchain egress-front-1 {\n\t\tip daddr 10.1.0.0/16 return comment "front: "\n\t\tdrop\n\t}\n');
    // The internet gateway: only public addresses, mapped 1:1; only instances with one reach out.
    expect(text).toContain('\t\tiifname "igw0" ip daddr != { 198.51.100.10, 198.51.100.11 } drop\n');
    expect(text).toContain('\t\tiifname "igw0" ip daddr 198.51.100.11 dnat ip to 10.1.1.11\n');
    expect(text).toContain('\t\toifname "igw0" ip saddr 10.1.0.10 snat ip to 198.51.100.10\n');
    expect(text).toContain('\t\toifname "igw0" ip saddr != { 10.1.0.10, 10.1.1.11 } drop\n');
    expect(text).toContain('\t\tiifname "ve-back-2" ether type ip ip saddr != 10.1.1.11 drop\n');
});

test("protocols: names and numbers as AWS takes them; anything else is an error", () => {
    expect(parseProtocol("-1", 0, 0)).toEqual({ kind: "all" });
    expect(parseProtocol("6", 22, 22)).toEqual({ kind: "tcp", fromPort: 22, toPort: 22 });
    expect(parseProtocol("ICMP", -1, -1)).toEqual({ kind: "icmp", type: -1, code: -1 });
    expect(parseProtocol("58", -1, -1)).toBeUndefined();
    expect(() => parseProtocol("sctpx", 0, 0)).toThrow(/protocol "sctpx"/);
    expect(() => parseProtocol("300", 0, 0)).toThrow(/protocol "300"/);
});

test("an instance in a group the plan does not register is an error, not an open port", () => {
    const plan = syntheticPlan();
    plan.resources.push(resource("aws:ec2/instance:Instance", "stray", { privateIp: "10.1.2.10", vpcSecurityGroupIds: ["sg-nosuch"] }));
    expect(() => firewallPlan(plan)).toThrow(/stray uses security group sg-nosuch/);
});

test("no public address: the internet gateway passes nothing", () => {
    const plan = syntheticPlan();
    plan.resources = plan.resources.filter((r) => r.type !== "aws:ec2/eip:Eip" && r.name !== "front-1");
    const text = renderRuleset(firewallPlan(plan), net, "synthetic");
    expect(text).toContain('\t\tiifname "igw0" drop\n');
    expect(text).toContain('\t\toifname "igw0" drop\n');
    expect(text).not.toContain("dnat ip to");
});

describe("the stacks' own security groups", () => {
    let dev: OfflinePlan;
    let prod: OfflinePlan;
    beforeAll(async () => {
        dev = await planStack("dev");
        prod = await planStack("prod");
    }, 120_000);

    test("prod (strict): only the load balancer is public; web takes HTTP from it alone, the database MySQL from web and itself, Galera's ports from itself, exporters the monitoring server", () => {
        const fw = firewallPlan(prod);
        const byName = Object.fromEntries(fw.instances.map((i) => [i.name, i]));
        expect(
            fw.instances
                .filter((i) => i.publicIp)
                .map((i) => i.name)
                .sort(),
        ).toEqual(["lb-1", "lb-2"]);
        const ingress = (name: string) =>
            byName[name].rules
                .filter((r) => r.direction === "ingress")
                .map((r) => `${JSON.stringify(r.protocol)} from ${r.peers.join(" ")}`);
        // Exporters take scrapes from the monitoring server's address alone.
        const monitoring = `${prod.resources.find((r) => r.name === "monitoring-1")!.inputs.privateIp}/32`;
        expect(ingress("web-1")).toEqual([
            '{"kind":"tcp","fromPort":80,"toPort":80} from 10.0.64.9 10.0.0.10',
            `{"kind":"tcp","fromPort":9100,"toPort":9100} from ${monitoring}`,
        ]);
        // The pair: VRRP between its members only; the Elastic IP floats between them at a virtual address in lb-1's subnet.
        expect(ingress("lb-1").filter((r) => r.includes('"number"'))).toEqual(['{"kind":"number","number":112} from 10.0.64.9 10.0.0.10']);
        expect(fw.floating).toEqual({
            privateIp: "10.0.0.8",
            holders: ["lb-1", "lb-2"],
            publicIp: expect.stringMatching(/^198\.51\.100\./),
        });
        // The Galera cluster: MySQL and the health check from the web tier; Galera's ports and the check between the nodes.
        const web = "10.0.128.10 10.0.192.10";
        const nodes = "10.0.128.56 10.0.192.56 10.1.64.56";
        expect(ingress("db-1")).toEqual([
            `{"kind":"tcp","fromPort":3306,"toPort":3306} from ${web}`,
            `{"kind":"tcp","fromPort":3306,"toPort":3306} from ${nodes}`,
            `{"kind":"tcp","fromPort":4567,"toPort":4567} from ${nodes}`,
            `{"kind":"udp","fromPort":4567,"toPort":4567} from ${nodes}`,
            `{"kind":"tcp","fromPort":4568,"toPort":4568} from ${nodes}`,
            `{"kind":"tcp","fromPort":4444,"toPort":4444} from ${nodes}`,
            `{"kind":"tcp","fromPort":9200,"toPort":9200} from ${web}`,
            `{"kind":"tcp","fromPort":9200,"toPort":9200} from ${nodes}`,
            `{"kind":"tcp","fromPort":9100,"toPort":9100} from ${monitoring}`,
            `{"kind":"tcp","fromPort":9104,"toPort":9104} from ${monitoring}`,
        ]);
        // No adminCidr: no rule anywhere opens SSH.
        expect(
            fw.instances
                .flatMap((i) => i.rules)
                .filter((r) => r.protocol.kind === "tcp" && r.protocol.fromPort <= 22 && r.protocol.toPort >= 22),
        ).toEqual([]);
    });

    test("dev (the whiteboard's open firewall): every instance has a public address", () => {
        expect(
            firewallPlan(dev)
                .instances.filter((i) => !i.publicIp)
                .map((i) => i.name),
        ).toEqual([]);
    });

    test("prod's floating address: the gateway maps it to the virtual address, and only the pair may send from that address", () => {
        const fw = firewallPlan(prod);
        const text = renderRuleset(fw, net, "prod");
        expect(text).toContain(`iifname "igw0" ip daddr ${fw.floating!.publicIp} dnat ip to 10.0.0.8`);
        expect(text).toContain("10.0.0.8 : jump ingress-lb-1");
        for (const name of ["lb-1", "lb-2"])
            expect(text).toMatch(
                new RegExp(`iifname "${net.portOf(name)}" ether type arp arp saddr ip != \\{ [0-9.]+, 10\\.0\\.0\\.8 \\} drop`),
            );
        expect(text.split("\n").filter((l) => l.includes("saddr ip != ") && l.includes("10.0.0.8"))).toHaveLength(2);
    });

    test("prod's NAT gateway: instances without a public address reach the internet (the AWS endpoints) from its address", () => {
        const fw = firewallPlan(prod);
        expect(fw.natGateway).toBe(true);
        const text = renderRuleset(fw, net, "prod");
        const publicPrivate = fw.instances.filter((i) => i.publicIp).map((i) => i.privateIp);
        expect(text).toContain(
            `oifname "${net.gateway}" ip saddr != { ${[...publicPrivate, fw.floating!.privateIp].join(", ")} } snat ip to ${natAddress}`,
        );
        expect(text).not.toMatch(new RegExp(`oifname "${net.gateway}" ip saddr != .* drop`));
        // Without a NAT gateway, only instances with a public address go out.
        const noNat = renderRuleset({ ...fw, natGateway: undefined }, net, "prod");
        expect(noNat).toMatch(new RegExp(`oifname "${net.gateway}" ip saddr != .* drop`));
        expect(noNat).not.toContain(`snat ip to ${natAddress}`);
    });

    test("rendering is byte-stable: the same plan gives the same text, a new plan of the same stack too", async () => {
        const text = renderRuleset(firewallPlan(prod), net, "prod");
        expect(renderRuleset(firewallPlan(prod), net, "prod")).toBe(text);
        expect(renderRuleset(firewallPlan(await planStack("prod")), net, "prod")).toBe(text);
    });

    describeLocalCloud("nftables accepts the rulesets", () => {
        test("nft -c -f validates every ruleset in a scratch network namespace", () => {
            const dir = tempDir("nft");
            try {
                for (const [name, plan] of [
                    ["dev", dev],
                    ["prod", prod],
                    ["synthetic", syntheticPlan()],
                ] as const) {
                    const file = path.join(dir, `${name}.nft`);
                    fs.writeFileSync(file, renderRuleset(firewallPlan(plan), net, name));
                    const r = run("unshare", ["--net", "nft", "-c", "-f", file]);
                    expect({ name, status: r.status, output: r.output }).toEqual({ name, status: 0, output: "" });
                }
                // And a broken one is refused, so the check can fail.
                const bad = path.join(dir, "bad.nft");
                fs.writeFileSync(bad, renderRuleset(firewallPlan(prod), net, "prod").replace("tcp dport 80 accept", "tcp dport 80 acept"));
                expect(run("unshare", ["--net", "nft", "-c", "-f", bad]).status).not.toBe(0);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });
});
