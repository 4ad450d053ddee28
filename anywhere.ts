/**
 * What counts as "anywhere" for an ingress range. The program (config.ts, adminCidr) and the policy pack
 * (firewall policies) both judge ranges with this, so a range the config treats as the internet is one the
 * pack flags, and the reverse.
 *
 * An admin network is one organisation's. The widest block any registry hands out is IANA's unit of
 * allocation to the regional registries: a /8 of IPv4 (https://www.iana.org/assignments/ipv4-address-space)
 * and a /12 of IPv6 (https://www.iana.org/assignments/ipv6-unicast-address-assignments). A range wider than
 * that spans several registries' space, so it is no admin network, whatever it is meant to be: 0.0.0.0/1 plus
 * 128.0.0.0/1 is the whole internet in two rules. 10.0.0.0/8 (a corporate network over Direct Connect or a VPN)
 * stays an admin network.
 */

/** The shortest prefix that is still one network: IPv4 /8, IPv6 /12. Shorter prefixes are "anywhere". */
export const narrowestAnywherePrefix = { ipv4: 8, ipv6: 12 } as const;

/** Whether an IPv4 or IPv6 CIDR block is too wide to be anything but "anywhere" (0.0.0.0/0, 0.0.0.0/1, ::/0, 2000::/3). */
export function isAnywhere(cidr: string): boolean {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
    if (!m) return false;
    const prefix = Number(m[2]);
    return m[1].includes(":") ? prefix < narrowestAnywherePrefix.ipv6 : prefix < narrowestAnywherePrefix.ipv4;
}
