/** No HTTPS: judged from the HAProxy configuration the load balancer boots with and the group in front of it. */
import { gzipSync } from "zlib";
import { httpsRedirect, tlsTermination } from "../../policies/https";
import {
    check,
    cloudConfig,
    expectNoVerdict,
    haproxyPlain,
    haproxyTls,
    instance,
    rule,
    securityGroup,
    Spec,
    UNKNOWN,
    UNKNOWN_ARRAY,
    types,
    world,
} from "./helpers";

const lbGroup = (ports: number[], extra: Partial<Spec> = {}) =>
    securityGroup(
        "lb-sg",
        "lb",
        ports.map((fromPort) => rule({ fromPort, ...world })),
        extra,
    );
const lb = (haproxy: string | undefined, props: Record<string, unknown> = {}) =>
    instance("lb-1", "lb", {
        vpcSecurityGroupIds: ["sg-lb-sg"],
        userData: cloudConfig({ packages: ["haproxy"], files: haproxy === undefined ? {} : { "/etc/haproxy/haproxy.cfg": haproxy } }),
        ...props,
    });

describe("https-tls-termination", () => {
    test("passes when HAProxy binds 443 with a certificate and the group opens 443", async () => {
        expect((await check(tlsTermination, [lbGroup([80, 443]), lb(haproxyTls)])).found).toEqual([]);
    });

    test("plain HTTP fails on the instance (what HAProxy serves) and on the group (443 closed)", async () => {
        expect((await check(tlsTermination, [lbGroup([80]), lb(haproxyPlain)])).found).toEqual([
            "lb-1: lb-1's HAProxy binds no :443 with ssl and a certificate, only :80 (frontend www): the site is served in clear text.",
            "lb-sg: lb-sg opens no tcp/443 to lb-1: clients cannot reach HTTPS.",
        ]);
    });

    test("binding 443 without ssl, or a tag claiming HTTPS, is not TLS", async () => {
        const noSsl = haproxyPlain.replace("bind :80", "bind :80\n    bind :443");
        const claimed = lb(noSsl, { tags: { Role: "lb", Https: "self-signed" } });
        expect((await check(tlsTermination, [lbGroup([80, 443]), claimed])).flagged).toEqual(["lb-1"]);
    });

    test("a load balancer that writes no HAProxy configuration shows no TLS", async () => {
        expect((await check(tlsTermination, [lbGroup([443]), lb(undefined)])).found).toEqual([
            "lb-1: lb-1's user-data writes no /etc/haproxy/haproxy.cfg and names no parameter holding one: nothing shows it serves HTTPS.",
        ]);
    });

    test("a configuration published in an SSM parameter the user-data names is the one judged", async () => {
        const names = cloudConfig({ files: { "/etc/foobar/foobar.env": 'LB_CONFIG_PARAMETER="/foobar/test/lb/haproxy-cfg"\n' } });
        const parameter = (value: string, name = "/foobar/test/lb/haproxy-cfg"): Spec => ({
            type: types.ssmParameter,
            name: "lb-haproxy-config",
            props: { name, type: "String", value: `global\n    maxconn 100\n${value}` },
        });
        const publishing = lb(undefined, { userData: names });
        expect((await check([tlsTermination, httpsRedirect], [lbGroup([80, 443]), publishing, parameter(haproxyTls)])).found).toEqual([]);
        expect((await check(httpsRedirect, [lbGroup([80, 443]), publishing, parameter(haproxyPlain)])).flagged).toEqual(["lb-1"]);
        // A parameter the user-data does not name is not what the instance runs.
        expect((await check(tlsTermination, [lbGroup([443]), publishing, parameter(haproxyTls, "/elsewhere")])).flagged).toEqual(["lb-1"]);
    });

    test("reads gzip+base64 user-data and encoded files like cloud-init does", async () => {
        const text = cloudConfig({ files: { "/etc/haproxy/haproxy.cfg": haproxyTls } });
        const gzipped = lb(undefined, { userData: undefined, userDataBase64: gzipSync(Buffer.from(text)).toString("base64") });
        expect((await check(tlsTermination, [lbGroup([443]), gzipped])).found).toEqual([]);
        const encodedFile = `#cloud-config\nwrite_files:\n  - path: /etc/haproxy/haproxy.cfg\n    encoding: b64\n    content: ${Buffer.from(haproxyTls).toString("base64")}\n`;
        expect((await check(tlsTermination, [lbGroup([443]), lb(undefined, { userData: encodedFile })])).found).toEqual([]);
    });

    test("unknown user-data or group references give no verdict; a group named through a dependency does", async () => {
        expectNoVerdict(await check(tlsTermination, [lbGroup([80, 443]), lb(undefined, { userData: UNKNOWN })]));
        expectNoVerdict(await check(tlsTermination, [lbGroup([80]), lb(haproxyTls, { vpcSecurityGroupIds: [UNKNOWN] })]));
        expectNoVerdict(await check(tlsTermination, [securityGroup("lb-sg", "lb", UNKNOWN_ARRAY), lb(haproxyTls)]));
        const named = { ...lb(haproxyTls, { vpcSecurityGroupIds: [UNKNOWN] }), deps: { vpcSecurityGroupIds: ["lb-sg"] } };
        expect((await check(tlsTermination, [lbGroup([80]), named])).flagged).toEqual(["lb-sg"]);
    });

    test("an exemption waives the group or the instance", async () => {
        const r = await check(tlsTermination, [lbGroup([80]), lb(haproxyTls)], { exempt: ["lb-sg"] });
        expect([r.flagged, r.waived]).toEqual([[], ["lb-sg"]]);
    });
});

describe("https-redirect", () => {
    test("passes when :80 redirects to https (or nothing listens on :80)", async () => {
        expect((await check(httpsRedirect, [lb(haproxyTls)])).found).toEqual([]);
        const legacy = haproxyTls.replace(
            "http-request redirect scheme https code 301 unless { ssl_fc }",
            "redirect scheme https if !{ ssl_fc }",
        );
        expect((await check(httpsRedirect, [lb(legacy)])).found).toEqual([]);
        const httpsOnly = haproxyTls.replace("    bind :80\n", "");
        expect((await check(httpsRedirect, [lb(httpsOnly)])).found).toEqual([]);
    });

    test("plain HTTP served on :80 fails", async () => {
        expect((await check(httpsRedirect, [lb(haproxyPlain)])).found).toEqual([
            "lb-1: lb-1's HAProxy serves plain HTTP on :80 (frontend www) without redirecting to HTTPS.",
        ]);
        const second = `${haproxyTls}\nlisten legacy\n    bind *:80,*:8080\n    server web-1 10.0.128.10:80`;
        expect((await check(httpsRedirect, [lb(second)])).found[0]).toContain("(listen legacy)");
    });

    test("only load balancers are judged", async () => {
        expect((await check(httpsRedirect, [instance("web-1", "web", { userData: "#!/bin/sh\necho hi\n" })])).found).toEqual([]);
    });

    test("unknown user-data gives no verdict", async () => {
        expectNoVerdict(await check(httpsRedirect, [lb(undefined, { userData: UNKNOWN })]));
    });

    test("an exemption waives the instance", async () => {
        expect((await check(httpsRedirect, [lb(haproxyPlain)], { exempt: ["lb-1"] })).waived).toEqual(["lb-1"]);
    });
});
