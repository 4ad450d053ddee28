/**
 * The shared shape of every role's `#cloud-config`, and the one place that
 * turns it into text and into EC2 user-data.
 */
import * as zlib from "zlib";
import { stringify } from "yaml";
import { bundledFile, envFile, WriteFile } from "./files";
import { exporterPackages, Role, rolePackages } from "./packages";
import { restartDropIn } from "./systemd";
import { Target, targetFiles } from "./target";

export interface CloudConfig {
    package_update: boolean;
    packages: string[];
    write_files: WriteFile[];
    runcmd: string[][];
}

/** EC2's limit on raw user-data. */
export const userDataLimitBytes = 16 * 1024;

export interface RoleUserDataArgs {
    role: Role;
    target: Target;
    /** Non-secret settings of this instance, written to /etc/foobar/foobar.env. */
    settings: Record<string, string>;
    /** The role's configuration files. */
    files: WriteFile[];
    /** The role's setup script, run once by cloud-init after packages and files are in place. */
    setupScript: string;
    /**
     * Units the role's Debian packages ship and the site depends on (e.g. `nginx.service`): each gets a drop-in
     * that restarts it after a crash. The setup script reloads systemd before it starts them.
     */
    packagedServices: string[];
    /** Service-level monitoring is on: the role's exporters are installed, and restarted like its daemons. */
    monitoring: boolean;
    /** Packages of an option of the role (a Galera node's), after the role's own. */
    extraPackages?: readonly string[];
}

/** Composes a role's cloud-config: packages, settings, target files, role files, restart drop-ins, one setup command. */
export function renderRoleUserData(args: RoleUserDataArgs): string {
    const exporters = args.monitoring ? exporterPackages[args.role] : [];
    const services = [...args.packagedServices, ...exporters.map((p) => `${p}.service`)];
    const config: CloudConfig = {
        package_update: true,
        packages: [...rolePackages[args.role], ...(args.extraPackages ?? []), ...exporters],
        write_files: [
            { path: "/etc/foobar/foobar.env", content: envFile(args.settings), permissions: "0644" },
            ...targetFiles(args.target),
            { path: "/usr/local/sbin/foobar-setup", content: bundledFile(`scripts/${args.setupScript}`), permissions: "0755" },
            ...args.files,
            ...services.map(restartDropIn),
        ],
        runcmd: [["/usr/local/sbin/foobar-setup"]],
    };
    return "#cloud-config\n" + stringify(config, { lineWidth: 0, sortMapEntries: false });
}

/**
 * EC2 accepts 16 KiB of raw user-data; cloud-init also reads gzip. Larger
 * documents go gzipped through `userDataBase64`. Node's gzip header carries no
 * timestamp, so the encoding stays byte-stable.
 */
export function encodeUserData(text: string): { userData?: string; userDataBase64?: string } {
    if (Buffer.byteLength(text) <= userDataLimitBytes) return { userData: text };
    const gz = zlib.gzipSync(Buffer.from(text), { level: 9 });
    if (gz.length > userDataLimitBytes) {
        throw new Error(`user-data is ${gz.length} bytes gzipped, over EC2's ${userDataLimitBytes}-byte limit`);
    }
    return { userDataBase64: gz.toString("base64") };
}

/** Inverse of `encodeUserData`, for previews and tests. */
export function decodeUserData(inputs: { userData?: string; userDataBase64?: string }): string | undefined {
    if (inputs.userData !== undefined) return inputs.userData;
    if (inputs.userDataBase64 === undefined) return undefined;
    const buf = Buffer.from(inputs.userDataBase64, "base64");
    return (buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf).toString("utf8");
}
