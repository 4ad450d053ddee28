/**
 * A describe block that needs the local cloud: it runs where the local cloud
 * can (root, systemd-nspawn, debootstrap), is skipped with the reason
 * elsewhere, and fails instead of skipping under REQUIRE_LOCAL_CLOUD=1 (CI).
 */
import { unsupportedReason } from "../../tools/local-cloud/util";

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
