/**
 * A stack's configuration as `pulumi up` would see it, without the CLI:
 * `Pulumi.yaml` defaults merged with `Pulumi.<stack>.yaml`.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

export interface StackFile {
    project: string;
    stack: string;
    /** Fully qualified keys (`foobar:webCount`, `aws:region`) to string values, as the Pulumi runtime holds them. */
    config: Record<string, string>;
}

export class UsageError extends Error {}

export const projectRoot = path.resolve(__dirname, "..", "..");

/** Stack names that have a `Pulumi.<name>.yaml` in the project, sorted. */
export function listStacks(root = projectRoot): string[] {
    return fs
        .readdirSync(root)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

function asConfigString(key: string, value: unknown): string {
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    if (value !== null && typeof value === "object" && "secure" in value) {
        throw new UsageError(`${key} is an encrypted secret; the offline tools cannot decrypt it (this program reads no secret config)`);
    }
    return JSON.stringify(value);
}

export function loadStackConfig(stack: string, root = projectRoot): StackFile {
    if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new UsageError(`invalid stack name ${JSON.stringify(stack)}`);
    const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
        name: string;
        config?: Record<string, { default?: unknown } | unknown>;
    };
    const stackPath = path.join(root, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackPath)) {
        const known = listStacks(root);
        throw new UsageError(
            `no stack file Pulumi.${stack}.yaml; stacks in this project: ${known.join(", ") || "none"} (add Pulumi.${stack}.yaml to create one)`,
        );
    }
    const stackDoc = (parse(fs.readFileSync(stackPath, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [key, decl] of Object.entries(project.config ?? {})) {
        const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
        const value = decl !== null && typeof decl === "object" && "default" in decl ? (decl as { default?: unknown }).default : decl;
        if (value !== undefined && value !== "") config[fullKey] = asConfigString(fullKey, value);
    }
    for (const [key, value] of Object.entries(stackDoc.config ?? {})) {
        const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
        config[fullKey] = asConfigString(fullKey, value);
    }
    return { project: project.name, stack, config };
}
