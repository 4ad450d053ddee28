/**
 * The CrossGuard policy pack: `pulumi preview --policy-pack policies
 * [--policy-pack-config policies/config/<file>.json]`. Every policy is
 * advisory unless the config raises it.
 */
import { PolicyPack } from "@pulumi/policy";
import { packDescription, packName, policies } from "./pack";

new PolicyPack(packName, { policies, enforcementLevel: "advisory", description: packDescription });
