/**
 * Database data volumes: one loop device per instance over a sparse file in the cloud's
 * state dir, outside any container's overlay, so the data outlives a container stop and
 * start as an EBS volume outlives a reboot. The instance formats it itself (setup-db.sh).
 */
import * as fs from "fs";
import * as path from "path";
import { runSync, stateDir } from "./util";

function disksDir(): string {
    return path.join(stateDir(), "disks");
}

export function diskFile(name: string): string {
    return path.join(disksDir(), `${name}.img`);
}

interface LoopDevice {
    name: string;
    "back-file": string | null;
}

/** Loop devices over this cloud's disk files, also of a crashed run. */
function ourLoopDevices(): LoopDevice[] {
    const devices = (JSON.parse(runSync("losetup", ["--list", "--json"]) || '{"loopdevices":[]}') as { loopdevices: LoopDevice[] })
        .loopdevices;
    return devices.filter((d) => (d["back-file"] ?? "").startsWith(disksDir() + "/"));
}

/** The loop device of instance `name`'s volume: the same device while it stays attached, a new empty volume the first time. */
export function ensureDisk(name: string, sizeGiB: number): string {
    const file = diskFile(name);
    const attached = ourLoopDevices().find((d) => d["back-file"] === file);
    if (attached) return attached.name;
    fs.mkdirSync(disksDir(), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) {
        // Sparse: only what the file system writes takes space.
        fs.writeFileSync(file, "");
        fs.truncateSync(file, sizeGiB * 1024 ** 3);
    }
    return runSync("losetup", ["--find", "--show", file]).trim();
}

/** Every loop device this cloud attached, by device path. */
export function attachedDisks(): string[] {
    return ourLoopDevices().map((d) => d.name);
}

/** Detaches every loop device of this cloud and deletes the volumes (for `down`). */
export function destroyAllDisks(): void {
    for (const d of ourLoopDevices()) runSync("losetup", ["--detach", d.name]);
    fs.rmSync(disksDir(), { recursive: true, force: true });
}
