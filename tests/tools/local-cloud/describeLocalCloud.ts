/**
 * A describe block that needs the local cloud: it runs where the local cloud
 * can (root, systemd-nspawn, debootstrap), is skipped with the reason
 * elsewhere, and fails instead of skipping under REQUIRE_LOCAL_CLOUD=1 (CI).
 */
import { down, leftovers, LocalSite, upFromNothing } from "../../../tools/local-cloud/site";
import { unsupportedReason } from "../../../tools/local-cloud/util";

const MINUTE = 60_000;

export function describeLocalCloud(title: string, body: () => void): void {
    const reason = unsupportedReason();
    if (reason === undefined) {
        describe(title, body);
    } else if (process.env.REQUIRE_LOCAL_CLOUD === "1") {
        test(`${title}: the local cloud can run here (REQUIRE_LOCAL_CLOUD=1)`, () => {
            throw new Error(`REQUIRE_LOCAL_CLOUD=1, but the local cloud cannot run: ${reason}`);
        });
    } else {
        console.warn(`${title}: skipped: ${reason} (set REQUIRE_LOCAL_CLOUD=1 to make this a failure)`);
        test.skip(`${title}: skipped because ${reason}`, () => undefined);
    }
}

/**
 * A local-cloud suite over one stack's topology: booted before the tests and
 * removed after them, in a cloud of its own (`cloud`), so the suite never
 * touches a topology a developer has up with `npm run local:up`.
 */
export function describeLocalSite(title: string, stack: string, cloud: string, body: (site: () => LocalSite) => void): void {
    process.env.LOCAL_CLOUD_NAME = cloud;
    describeLocalCloud(title, () => {
        let site: LocalSite | undefined;
        beforeAll(async () => {
            site = await upFromNothing(stack, { cloudInitTimeoutMs: 10 * MINUTE });
        }, 20 * MINUTE);
        afterAll(async () => {
            await down();
            expect(leftovers()).toEqual(nothingLeft);
        }, 2 * MINUTE);
        body(() => {
            if (!site) throw new Error(`the ${stack} topology did not come up`);
            return site;
        });
    });
}

export const nothingLeft: Record<string, unknown[]> = { containers: [], processes: [], namespaces: [], loopDevices: [], mounts: [] };
