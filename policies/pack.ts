/**
 * The pack's policies as plain objects. `index.ts` serves them to the Pulumi
 * engine; the offline checker (tools/policy-check) evaluates these very
 * objects without constructing a PolicyPack, whose constructor starts the
 * analyzer's gRPC server.
 */
import { Policies } from "@pulumi/policy";
import { firewallPolicies } from "./firewall";
import { httpsPolicies } from "./https";
import { hygienePolicies } from "./hygiene";
import { monitoringPolicies } from "./monitoring";
import { redundancyPolicies } from "./redundancy";
import { rolloutPolicies } from "./rollout";

export const packName = "foobar-compliance";

export const packDescription =
    "Flags the gaps the three-server designs for www.foobar.com document (single points of failure, no firewall, no HTTPS, no monitoring) and baseline hygiene, wherever a stack still has them.";

export const policies: Policies = [
    ...redundancyPolicies,
    ...firewallPolicies,
    ...httpsPolicies,
    ...monitoringPolicies,
    ...hygienePolicies,
    ...rolloutPolicies,
];
