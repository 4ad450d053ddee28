/**
 * What an instance's user-data deploys: the decoded text and, for a
 * `#cloud-config`, its packages and the files it writes.
 *
 * The pack decodes user-data itself rather than importing the program's
 * `userdata/` modules: a policy pack is loaded on its own by the analyzer and
 * must judge any program's output, not trust the renderer that produced it.
 */
import * as zlib from "zlib";
import { parse } from "yaml";
import { Res } from "./resources";
import { Known, knownString, unknown } from "./unknowns";

/** base64, gunzipped when it is gzip (cloud-init reads both). */
export function decodeBase64(text: string): string {
    const buf = Buffer.from(text, "base64");
    return (buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf).toString("utf8");
}

/** The user-data text of an instance or launch template: `undefined` when it has none. */
export function userDataOf(r: Res): Known<string | undefined> {
    const text = knownString(() => r.props.userData);
    if (text !== undefined) return text;
    const encoded = knownString(() => r.props.userDataBase64);
    if (encoded === unknown || encoded === undefined) return encoded;
    try {
        return decodeBase64(encoded);
    } catch {
        return encoded;
    }
}

export interface CloudConfigView {
    packages: string[];
    /** Written files by path, contents decoded. */
    files: Map<string, string>;
}

/** Parses a `#cloud-config` document; `undefined` for anything else (a script, MIME multipart, a hash). */
export function parseCloudConfig(text: string): CloudConfigView | undefined {
    if (!text.startsWith("#cloud-config")) return undefined;
    let doc: unknown;
    try {
        doc = parse(text);
    } catch {
        return undefined;
    }
    if (doc === null || typeof doc !== "object") return { packages: [], files: new Map() };
    const { packages, write_files: writeFiles } = doc as { packages?: unknown; write_files?: unknown };
    const names = (Array.isArray(packages) ? packages : []).map((p) => String(Array.isArray(p) ? p[0] : p));
    const files = new Map<string, string>();
    for (const f of Array.isArray(writeFiles) ? writeFiles : []) {
        if (f === null || typeof f !== "object" || typeof f.path !== "string") continue;
        const content = typeof f.content === "string" ? f.content : "";
        const encoded = typeof f.encoding === "string" && /^(b64|base64|gz\+b64|gz\+base64|gzip\+b64|gzip\+base64)$/.test(f.encoding);
        files.set(f.path, encoded ? decodeBase64(content) : content);
    }
    return { packages: names, files };
}

/** The cloud-config an instance deploys: `undefined` when its user-data is absent or not a cloud-config. */
export function cloudConfigOf(r: Res): Known<CloudConfigView | undefined> {
    const text = userDataOf(r);
    if (text === unknown || text === undefined) return text;
    return parseCloudConfig(text);
}

/** `KEY` from any `KEY="value"` line of the written files (the program's /etc/foobar/foobar.env). */
export function settingOf(config: CloudConfigView, key: string): string | undefined {
    const line = new RegExp(`^${key}="?([^"\\n]*)"?$`, "m");
    for (const content of config.files.values()) {
        const m = line.exec(content);
        if (m) return m[1];
    }
    return undefined;
}
