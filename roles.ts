/**
 * The values of the `Role` tag. The program tags every resource with the tier
 * it belongs to, and the policy pack finds the tiers by this tag, so both
 * take the values from here.
 */

/** Tiers that run instances: the policies count and firewall them by this value. */
export type TierRole = "lb" | "web" | "db";

/** Every `Role` tag value: the tiers, and the shared pieces around them. */
export type Role = TierRole | "network" | "monitoring";
