/** Helpers for the files cloud-init writes. */
import * as fs from "fs";
import * as path from "path";

export interface WriteFile {
    path: string;
    content: string;
    permissions: string;
    owner?: string;
    /** Written after packages are installed, so a package's own files never clash with ours. */
    defer?: boolean;
    append?: boolean;
}

/** Reads a file shipped under `userdata/files/` (scripts, the app). */
export function bundledFile(relative: string): string {
    return fs.readFileSync(path.join(__dirname, "files", relative), "utf8");
}

/** `KEY="value"` lines for an environment file that both systemd and `sh` read. */
export function envFile(values: Record<string, string>): string {
    return Object.entries(values)
        .map(([k, v]) => {
            if (!/^[A-Z][A-Z0-9_]*$/.test(k) || /["\\$`\n]/.test(v)) {
                throw new Error(`environment entry ${k} cannot be written safely: ${JSON.stringify(v)}`);
            }
            return `${k}="${v}"\n`;
        })
        .join("");
}
