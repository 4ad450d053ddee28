import { debianAmiName } from "../../components/ami";
import { AwsMocks } from "../../tools/preview/mocks";
import { planProgram } from "../../tools/preview/plan";
import { devStackFile, ofType } from "../helpers";

jest.setTimeout(120_000);

const amisOf = async (overrides: Record<string, string>) => {
    const plan = await planProgram(devStackFile(overrides));
    return [...new Set(ofType(plan, "aws:ec2/instance:Instance").map((r) => r.inputs.ami))];
};

describe("the AMI a stack pins", () => {
    test("Debian's name for a build, per architecture", () => {
        expect(debianAmiName("x86_64", "20250316-2053")).toBe("debian-12-amd64-20250316-2053");
        expect(debianAmiName("arm64", "20250316-2053")).toBe("debian-12-arm64-20250316-2053");
    });

    test("every instance runs the pinned build; only a change of amiRelease changes the image, and amiId is taken as given", async () => {
        const pinned = await amisOf({});
        expect(pinned).toHaveLength(1);
        expect(await amisOf({})).toEqual(pinned);
        const moved = await amisOf({ amiRelease: "20250401-2090" });
        expect(moved).toHaveLength(1);
        expect(moved).not.toEqual(pinned);
        expect(await amisOf({ amiRelease: "", amiId: "ami-0fedcba9876543210" })).toEqual(["ami-0fedcba9876543210"]);
    });

    test("the offline EC2 answers only an exact name, as a pin asks (a pattern or mostRecent floats)", () => {
        const mocks = new AwsMocks("eu-west-1");
        const ask = (inputs: Record<string, unknown>) => () => mocks.call({ token: "aws:ec2/getAmi:getAmi", inputs, provider: "" });
        const byName = (name: string) => ({ filters: [{ name: "name", values: [name] }] });
        expect(ask(byName("debian-12-amd64-20250316-2053"))()).toMatchObject({ name: "debian-12-amd64-20250316-2053" });
        expect(ask(byName("debian-12-amd64-*"))).toThrow(/one exact AMI name/);
        expect(ask({ ...byName("debian-12-amd64-20250316-2053"), mostRecent: true })).toThrow(/one exact AMI name/);
    });
});
