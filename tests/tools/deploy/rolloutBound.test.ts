/** The deploy's upper bound of a rollout, from the offline plans of the shipped stacks and variants. */
import { planProgram, planStack } from "../../../tools/preview/plan";
import { hostedJobLimitMinutes, marginSeconds, rolloutBound } from "../../../tools/deploy/rolloutBound";
import { loadStackConfig } from "../../../tools/stackFile";

const withWebCount = async (stack: string, webCount: number) => {
    const file = loadStackConfig(stack);
    return rolloutBound(await planProgram({ ...file, config: { ...file.config, "foobar:webCount": String(webCount) } }));
};

test.each([
    // dev: the web servers one after another, then the load balancer's gate on the configuration naming them.
    ["dev", 125, ["web-1", "web-1-ready", "web-2", "web-2-ready", "lb-1-config-applied"]],
    // prod: private servers wait for the NAT route; lb-1 waits for lb-2's gates, which wait for the web servers'.
    [
        "prod",
        195,
        [
            "vpc-nat",
            "web-1",
            "web-1-ready",
            "web-2",
            "web-2-ready",
            "lb-2-config-applied",
            "lb-2-holds-address",
            "lb-1",
            "lb-1-config-applied",
        ],
    ],
])("%s: pulumi up takes at most %i minutes, along the longest chain of its steps", async (stack, minutes, chain) => {
    const bound = rolloutBound(await planStack(stack));
    expect(bound.chain.map((s) => s.name)).toEqual(chain);
    expect(bound.seconds).toBe(bound.chain.reduce((sum, s) => sum + s.seconds, 0) + marginSeconds);
    expect(bound.minutes).toBe(minutes);
    // Over the old 60-minute job and its 1-hour credentials already.
    expect(bound.minutes).toBeGreaterThan(60);
});

test("each web server adds its replacement and its gate (45 minutes): prod fits a hosted job up to webCount 5", async () => {
    const five = await withWebCount("prod", 5);
    const six = await withWebCount("prod", 6);
    expect([five.minutes, six.minutes]).toEqual([330, 375]);
    expect(five.minutes).toBeLessThanOrEqual(hostedJobLimitMinutes);
    expect(six.minutes).toBeGreaterThan(hostedJobLimitMinutes);
});
