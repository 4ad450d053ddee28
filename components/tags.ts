/** The tags every resource of the program carries; the policy pack reads `Role` to find the tiers. */
import { Role } from "../roles";

export function resourceTags(role: Role, name: string, stack: string): Record<string, string> {
    return { Name: name, Role: role, Stack: stack };
}
