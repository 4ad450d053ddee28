/** Beyond the seeds: IMDSv2, encrypted volumes, no secret in user-data, protected databases. */
import { gzipSync } from "zlib";
import { databaseProtection, encryptedVolumes, imdsv2, noSecretsInUserData } from "../../policies/hygiene";
import { check, cloudConfig, expectNoVerdict, instance, Spec, types, UNKNOWN, UNKNOWN_BOOL, UNKNOWN_OBJECT } from "./helpers";

describe("hygiene-imdsv2", () => {
    test("required tokens (or no metadata endpoint) pass; optional or unset fail", async () => {
        expect(
            (await check(imdsv2, [instance("a", "web"), instance("b", "web", { metadataOptions: { httpEndpoint: "disabled" } })])).found,
        ).toEqual([]);
        expect(
            (
                await check(imdsv2, [
                    instance("c", "web", { metadataOptions: { httpTokens: "optional" } }),
                    instance("d", "web", { metadataOptions: undefined }),
                ])
            ).found,
        ).toEqual([
            "c: c accepts IMDSv1 requests (metadataOptions.httpTokens is optional).",
            "d: d accepts IMDSv1 requests (metadataOptions.httpTokens is unset).",
        ]);
    });

    test("launch templates too; unknown gives no verdict; an exemption waives", async () => {
        expect((await check(imdsv2, [{ type: types.launchTemplate, name: "lt", props: {} }])).flagged).toEqual(["lt"]);
        expectNoVerdict(await check(imdsv2, [instance("a", "web", { metadataOptions: UNKNOWN_OBJECT })]));
        expect((await check(imdsv2, [instance("c", "web", { metadataOptions: {} })], { exempt: ["c"] })).waived).toEqual(["c"]);
    });
});

describe("hygiene-encrypted-volumes", () => {
    test("encrypted root, attached and standalone volumes pass; any plain one fails", async () => {
        const ok: Spec[] = [
            instance("a", "web", { ebsBlockDevices: [{ deviceName: "/dev/sdf", encrypted: true }] }),
            { type: types.volume, name: "data", props: { encrypted: true } },
        ];
        expect((await check(encryptedVolumes, ok)).found).toEqual([]);
        const plain: Spec[] = [
            instance("a", "web", { rootBlockDevice: { encrypted: false }, ebsBlockDevices: [{ deviceName: "/dev/sdf" }] }),
            { type: types.volume, name: "data", props: { size: 20 } },
        ];
        expect((await check(encryptedVolumes, plain)).found).toEqual([
            "a: a: the root volume and volume /dev/sdf are not encrypted.",
            "data: data: the volume is not encrypted.",
        ]);
    });

    test("unknown gives no verdict; an exemption waives", async () => {
        expectNoVerdict(await check(encryptedVolumes, [{ type: types.volume, name: "data", props: { encrypted: UNKNOWN_BOOL } }]));
        expect((await check(encryptedVolumes, [{ type: types.volume, name: "data", props: {} }], { exempt: ["data"] })).waived).toEqual([
            "data",
        ]);
    });
});

describe("hygiene-no-secrets-in-user-data", () => {
    const password = "Mock3c1b0b1e5d9a4f7e8c2a6b0d4f1e9c";
    const secrets: Spec[] = [
        { type: "random:index/randomPassword:RandomPassword", name: "app-password", props: { length: 32, result: password } },
        {
            type: types.ssmParameter,
            name: "app-password-param",
            props: { name: "/foobar/dev/db/app-password", type: "SecureString", value: password },
        },
        { type: types.ssmParameter, name: "site-name", props: { name: "/foobar/dev/site", type: "String", value: "www.foobar.com" } },
    ];
    const withUserData = (userData: unknown) => [...secrets, instance("web-1", "web", { userData })];

    test("user-data carrying parameter names passes (and plain String parameters are no secrets)", async () => {
        const names = cloudConfig({
            files: { "/etc/foobar/foobar.env": 'APP_PASSWORD_PARAMETER="/foobar/dev/db/app-password"\nSITE="www.foobar.com"\n' },
        });
        expect((await check(noSecretsInUserData, withUserData(names))).found).toEqual([]);
    });

    test("a secret value in user-data fails, naming where it comes from, never the value", async () => {
        const r = await check(noSecretsInUserData, withUserData(cloudConfig({ files: { "/etc/app.env": `DB_PASSWORD=${password}\n` } })));
        expect(r.found).toEqual([
            "web-1: web-1's user-data contains the value of app-password and app-password-param: anyone who can read the instance's attributes can read it.",
        ]);
        expect(r.found.join("")).not.toContain(password);
    });

    test("also when gzipped, or base64-encoded in a written file", async () => {
        const inFile = `#cloud-config\nwrite_files:\n  - path: /etc/app.env\n    encoding: b64\n    content: ${Buffer.from(`PASSWORD=${password}\n`).toString("base64")}\n`;
        expect((await check(noSecretsInUserData, withUserData(inFile))).flagged).toEqual(["web-1"]);
        const gz = [
            ...secrets,
            instance("web-1", "web", { userDataBase64: gzipSync(Buffer.from(`#!/bin/sh\necho ${password}\n`)).toString("base64") }),
        ];
        expect((await check(noSecretsInUserData, gz)).flagged).toEqual(["web-1"]);
    });

    test("unknown user-data or unknown secrets give no verdict; an exemption waives", async () => {
        expectNoVerdict(await check(noSecretsInUserData, withUserData(UNKNOWN)));
        const unknownSecrets: Spec[] = [
            { type: "random:index/randomPassword:RandomPassword", name: "p", props: { result: UNKNOWN } },
            instance("web-1", "web", { userData: "#!/bin/sh\n" }),
        ];
        expectNoVerdict(await check(noSecretsInUserData, unknownSecrets));
        const leaking = withUserData(`#!/bin/sh\necho ${password}\n`);
        expect((await check(noSecretsInUserData, leaking, { exempt: ["web-1"] })).waived).toEqual(["web-1"]);
    });
});

describe("hygiene-database-protection", () => {
    const protectedDb = (props: Record<string, unknown> = {}, extra: Partial<Spec> = {}) =>
        instance(
            "db-primary",
            "db",
            { disableApiTermination: true, userDataReplaceOnChange: false, ...props },
            { protect: true, ignoreChanges: ["ami", "userData"], ...extra },
        );
    const volume = (protect: boolean): Spec => ({
        type: types.volume,
        name: "db-primary-data",
        props: { encrypted: true, tags: { Role: "db" } },
        protect,
    });

    test("protected database instances and volumes pass; web servers are not judged", async () => {
        expect((await check(databaseProtection, [protectedDb(), volume(true), instance("web-1", "web")])).found).toEqual([]);
    });

    test("what `dbDeletionProtection: false` leaves fails", async () => {
        const r = await check(databaseProtection, [protectedDb({ disableApiTermination: false }, { protect: false }), volume(false)]);
        expect(r.found).toEqual([
            "db-primary: db-primary (database) can be lost by accident: it is not protected (protect: false); termination protection is off (disableApiTermination).",
            "db-primary-data: db-primary-data (database) can be lost by accident: it is not protected (protect: false).",
        ]);
    });

    test("a new AMI or user-data would replace an instance that does not ignore them", async () => {
        const r = await check(databaseProtection, [protectedDb({ userDataReplaceOnChange: true }, { ignoreChanges: [] })]);
        expect(r.found).toEqual([
            "db-primary: db-primary (database) can be lost by accident: a new AMI would replace it (ignoreChanges lacks ami); a user-data change would replace it.",
        ]);
    });

    test("unknown gives no verdict; an exemption waives", async () => {
        expectNoVerdict(await check(databaseProtection, [protectedDb({ disableApiTermination: UNKNOWN_BOOL })]));
        expect((await check(databaseProtection, [volume(false)], { exempt: ["db-primary-data"] })).waived).toEqual(["db-primary-data"]);
    });
});
