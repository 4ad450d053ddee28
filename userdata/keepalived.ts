/**
 * The load-balancer pair: keepalived (VRRP) between the two HAProxy instances decides which one holds the
 * site's public address. The target decides only how the address moves (userdata/target.ts): on AWS a notify
 * script associates the Elastic IP with the new master; in the local cloud keepalived moves a virtual address
 * with gratuitous ARP. Everything else here is the same on both.
 */
import { bundledFile, WriteFile } from "./files";
import { statsPort } from "./loadBalancer";

/** What one load balancer of the pair is told about VRRP. */
export interface VrrpSettings {
    /** This load balancer's private address: the source of its adverts. */
    self: string;
    /** The other load balancer's private address: the only one whose adverts count (unicast, checked source). */
    peer: string;
    /** Breaks a tie when both start together; with nopreempt it never takes the address back. */
    priority: number;
    /**
     * Seconds keepalived waits before its first VRRP step. The second load balancer waits, so after both start
     * together the first becomes master alone instead of both running their takeover in the same second.
     */
    startupDelaySeconds: number;
    /** SSM SecureString holding the VRRP password (VRRPv2 PASS: 8 characters), fetched at boot. */
    passwordParameter: string;
}

/**
 * VRRP timing. VRRPv2, because it is the version with authentication, and because keepalived 2.2.7 refuses a
 * VRRPv3 instance without a virtual address ("No VIP specified; at least one is required"), which the AWS target
 * has none of: the Elastic IP moves by API. Its adverts are whole seconds: a backup takes over 3 adverts plus a
 * skew of (256 - priority) / 256 s after the master falls silent, at once when the master says it is leaving
 * (priority 0, on a clean stop or a failed track script).
 */
export const vrrpTiming = { advertSeconds: 1, checkIntervalSeconds: 1, checkFall: 2, checkRise: 2 } as const;

/** The VRRP router id both load balancers share; any of 1-255, unique among VRRP routers on the subnet. */
export const virtualRouterId = 51;
/** keepalived's own include for what only the instance knows at boot: its interface name and the password (setup-keepalived.sh). */
export const keepalivedRuntimePath = "/etc/keepalived/runtime.conf";
/** The target's part: how the public address follows the master (userdata/target.ts). */
export const keepalivedPublicAddressPath = "/etc/keepalived/public-address.conf";
/** VRRPv2's PASS authentication carries 8 characters (RFC 2338 §5.3.10, keepalived truncates longer ones). */
export const vrrpPasswordLength = 8;

export function renderKeepalivedConfig(vrrp: VrrpSettings): string {
    return [
        "# Rendered by the foobar Pulumi program.",
        "global_defs {",
        "    script_user root",
        "    enable_script_security",
        ...(vrrp.startupDelaySeconds > 0 ? [`    vrrp_startup_delay ${vrrp.startupDelaySeconds}`] : []),
        "}",
        // Defines $INTERFACE and $VRRP_PASSWORD (keepalived's own parameter substitution).
        `include ${keepalivedRuntimePath}`,
        "",
        // Healthy means HAProxy answers with the site's configuration; until it does (init_fail) this node stays in FAULT.
        "vrrp_script haproxy {",
        `    script "/usr/local/sbin/foobar-lb-healthy http://127.0.0.1:${statsPort}/stats"`,
        `    interval ${vrrpTiming.checkIntervalSeconds}`,
        `    timeout ${vrrpTiming.checkIntervalSeconds}`,
        `    fall ${vrrpTiming.checkFall}`,
        `    rise ${vrrpTiming.checkRise}`,
        "    init_fail",
        "}",
        "",
        "vrrp_instance site {",
        // Both start as backup and never preempt: a load balancer that comes back does not take the address back.
        "    state BACKUP",
        "    nopreempt",
        "    interface $INTERFACE",
        `    virtual_router_id ${virtualRouterId}`,
        `    priority ${vrrp.priority}`,
        `    advert_int ${vrrpTiming.advertSeconds}`,
        `    unicast_src_ip ${vrrp.self}`,
        "    unicast_peer {",
        `        ${vrrp.peer}`,
        "    }",
        "    check_unicast_src",
        "    authentication {",
        "        auth_type PASS",
        "        auth_pass $VRRP_PASSWORD",
        "    }",
        "    track_script {",
        "        haproxy",
        "    }",
        `    include ${keepalivedPublicAddressPath}`,
        "}",
        "",
    ].join("\n");
}

/** keepalived's configuration and its track script, for one load balancer of the pair. */
export function keepalivedFiles(vrrp: VrrpSettings): WriteFile[] {
    return [
        { path: "/usr/local/sbin/foobar-lb-healthy", content: bundledFile("keepalived/foobar-lb-healthy.sh"), permissions: "0755" },
        // After the package: its service starts only once the configuration exists, i.e. from setup-keepalived.sh.
        { path: "/etc/keepalived/keepalived.conf", content: renderKeepalivedConfig(vrrp), permissions: "0644", defer: true },
    ];
}

/** How the public address follows the master, by target: the Elastic IP by API, or a virtual address on the bridge. */
export type PublicAddressMove = { kind: "elastic-ip" } | { kind: "virtual-address"; address: string };

export function publicAddressFiles(move: PublicAddressMove): WriteFile[] {
    if (move.kind === "virtual-address") {
        const content = ["    virtual_ipaddress {", `        ${move.address}/32 dev $INTERFACE`, "    }", ""].join("\n");
        return [{ path: keepalivedPublicAddressPath, content, permissions: "0644", defer: true }];
    }
    // A node that returns from a split brain (both masters) sees the other's lower-priority adverts: it takes the address again
    // (keepalived issues #100, #950, PR #957).
    const notify = '"/usr/local/sbin/foobar-take-public-address"';
    const content = [`    notify_master ${notify}`, `    notify_master_rx_lower_pri ${notify}`, ""].join("\n");
    return [
        {
            path: "/usr/local/sbin/foobar-take-public-address",
            content: bundledFile("keepalived/take-public-address-aws.py"),
            permissions: "0755",
        },
        { path: keepalivedPublicAddressPath, content, permissions: "0644", defer: true },
    ];
}
