/**
 * Stack files, found and read the way the Pulumi CLI finds and reads them: which exist, which one
 * `pulumi up --stack <name>` reads, and the configuration it gets from it (`Pulumi.yaml` defaults merged
 * with the stack's settings). The offline preview, the policy check, the local cloud and the CI matrix
 * all go through this module, so a stack file one of them accepts is a stack file all of them accept.
 *
 * Where the CLI would warn, ignore silently or read something else than the author meant (a setting
 * outside `config:`, a misspelt namespace or provider key, a key with no value), the file is refused
 * with a message naming the file, the key and the fix. Sources (github.com/pulumi/pulumi):
 * sdk/go/common/workspace/{paths,loaders,project}.go, sdk/go/common/resource/config/key.go,
 * sdk/go/common/tokens/stack_name.go, pkg/workspace/config.go.
 */
import * as fs from "fs";
import * as path from "path";
import { Document, isMap, isPair, isScalar, parseAllDocuments, parseDocument, Scalar, visit } from "yaml";
import { didYouMean, nearestName } from "../config";

/** A mistake in how a tool was called or in a file it reads: one line, exit 2. */
export class UsageError extends Error {}

export const projectRoot = path.resolve(__dirname, "..");

export interface StackFile {
    project: string;
    stack: string;
    /** Fully qualified keys (`foobar:webCount`, `aws:region`) to string values, as the Pulumi runtime holds them. */
    config: Record<string, string>;
}

/** A stack file: the stack's name and the file's path relative to the project root. */
export interface StackFileName {
    stack: string;
    file: string;
}

/** The extensions Pulumi looks for a project file with, in its order (sdk/go/common/encoding/marshal.go). */
const extensions = [".json", ".yaml", ".yml"];
/** What a stack file may hold beside `config:` (workspace.ProjectStack). */
const stackFileKeys = ["config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"];
/** Settings the Pulumi engine itself reads from the `pulumi:` namespace. */
const engineKeys = ["tags", "autonaming", "disable-default-providers"];

/** Pulumi's rule for stack names: 1 to 100 letters, digits, hyphens, underscores or periods. */
export function checkStackName(name: string): void {
    const bad = [...name].findIndex((c) => !/^[A-Za-z0-9_.-]$/.test(c));
    const problem =
        name === ""
            ? "it is empty"
            : name.length > 100
              ? `it has ${name.length} characters`
              : bad >= 0
                ? `${JSON.stringify(name[bad])} at position ${bad} is not allowed`
                : undefined;
    if (problem) {
        throw new UsageError(
            `invalid stack name ${JSON.stringify(name)}: ${problem}; ` +
                "a stack name is 1 to 100 letters, digits, hyphens (-), underscores (_) or periods (.), as Pulumi allows",
        );
    }
}

interface ProjectFile {
    name: string;
    /** The project file's name, e.g. `Pulumi.yaml`: stack files take its extension. */
    file: string;
    /** Where stack files live, relative to the root (`stackConfigDir`), "" for the root itself. */
    stackDir: string;
    config: Record<string, unknown>;
}

/**
 * Parses a YAML (or JSON) file strictly: a syntax error, a duplicate key or an unknown tag is an error naming the file.
 * As Go's yaml.v3 (which the CLI reads with) does: merge keys (`<<: *base`) merge, and only the first document counts, so a
 * trailing `---` is harmless while a second document with content is refused (Pulumi would ignore it).
 */
function parseYaml(text: string, file: string): Document.Parsed {
    const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false, merge: true });
    const [first, ...rest] = Array.isArray(docs) ? docs : [];
    const problem = first ? [...docs.flatMap((d) => [...d.errors, ...d.warnings])][0] : undefined;
    if (problem) throw new UsageError(`${file}: not valid YAML: ${problem.message.split("\n")[0]}`);
    if (rest.some((d) => d.toJS() !== null)) {
        throw new UsageError(
            `${file}: holds more than one YAML document; Pulumi reads only the first and would ignore the rest: merge them into one`,
        );
    }
    return first ?? parseDocument("");
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const kindOf = (v: unknown) =>
    Array.isArray(v) ? "a list" : v === null ? "empty" : isMapping(v) ? "a mapping" : `the ${typeof v} ${JSON.stringify(v)}`;

const projectFileIn = (dir: string) => extensions.map((ext) => `Pulumi${ext}`).find((f) => fs.existsSync(path.join(dir, f)));

/** The project a command run in `dir` works on, as the Pulumi CLI finds it: the nearest directory up with a project file. */
export function findProjectRoot(dir = process.cwd()): string {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        if (projectFileIn(d)) return d;
        if (path.dirname(d) === d) throw new UsageError(`no Pulumi.yaml in ${dir} or any directory above it: run this inside the project`);
    }
}

function readProject(root: string): ProjectFile {
    const file = projectFileIn(root);
    if (!file) throw new UsageError(`no Pulumi.yaml in ${root}: not a Pulumi project`);
    const doc = parseYaml(fs.readFileSync(path.join(root, file), "utf8"), file).toJS() as unknown;
    if (!isMapping(doc) || typeof doc.name !== "string") throw new UsageError(`${file}: must be a mapping with the project's name`);
    return {
        name: doc.name,
        file,
        stackDir: typeof doc.stackConfigDir === "string" ? doc.stackConfigDir : "",
        config: isMapping(doc.config) ? doc.config : {},
    };
}

/** Files named like stack files in the stack directory, by whether Pulumi reads them. */
function scanStackFiles(root: string): { read: StackFileName[]; ignored: (StackFileName & { message: string })[] } {
    const project = readProject(root);
    const ext = path.extname(project.file);
    const dir = path.join(root, project.stackDir);
    const read: StackFileName[] = [];
    const ignored: (StackFileName & { message: string })[] = [];
    const entries = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : [];
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const m = /^Pulumi\.(.+)(\.json|\.yaml|\.yml)$/.exec(entry.name);
        if (!entry.isFile() || !m) continue;
        const named = { stack: m[1], file: path.posix.join(project.stackDir, entry.name) };
        // `pulumi up --stack <name>` reads Pulumi.<name> with the project file's extension, and nothing else.
        if (m[2] === ext) read.push(named);
        else {
            const expected = path.posix.join(project.stackDir, `Pulumi.${m[1]}${ext}`);
            const message = `${named.file} is never read by Pulumi: a stack file takes the extension of the project file (${project.file}), so rename it to ${expected}`;
            ignored.push({ ...named, message });
        }
    }
    return { read, ignored };
}

/** The stack files Pulumi reads in this project, one per stack, sorted by stack name. */
export function stackFiles(root = projectRoot): StackFileName[] {
    return scanStackFiles(root).read;
}

/** Files that look like stack files but that Pulumi never reads (another extension than the project file's). */
export function ignoredStackFiles(root = projectRoot): (StackFileName & { message: string })[] {
    return scanStackFiles(root).ignored;
}

/** Stack names that have a stack file in the project, sorted. */
export function listStacks(root = projectRoot): string[] {
    return stackFiles(root).map((s) => s.stack);
}

/** The config namespaces of the providers this program uses (the `@pulumi/*` dependencies), with the keys each reads. */
function providerKeys(): Map<string, string[]> {
    const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    const providers = new Map<string, string[]>();
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
        const ns = /^@pulumi\/(.+)$/.exec(dep)?.[1];
        if (!ns || ns === "pulumi" || ns === "policy") continue;
        let vars: object = {};
        try {
            // The provider SDK's generated config module: one property per key the provider reads.
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- the package is only known at run time
            vars = require(`${dep}/config/vars`) as object;
        } catch {
            // A provider without settings (such as random).
        }
        providers.set(ns, Object.keys(vars));
    }
    return providers;
}

/**
 * A stack-file key as the Pulumi CLI parses it: `namespace:name`, the legacy `namespace:config:name`, or a
 * bare `name`, which Pulumi puts in the project's namespace (config.ParseKey, stackConfigNamespacedWithProject).
 */
function parseKey(key: string, project: string, file: string): { namespace: string; name: string } {
    const parts = key.split(":");
    const [namespace, name] =
        parts.length === 1
            ? [project, key]
            : parts.length === 2
              ? parts
              : parts.length === 3 && parts[1] === "config"
                ? [parts[0], parts[2]]
                : [];
    if (
        namespace !== undefined &&
        name !== undefined &&
        [namespace, name].some((part) => part.trim() === "" || /[\s\p{Cc}\p{Cf}]/u.test(part))
    ) {
        throw new UsageError(
            `${file}: ${JSON.stringify(key)} is not a configuration key: a namespace or name is blank or holds a space or an invisible character ` +
                `(Pulumi would store it as written, and nothing reads it); keys are <namespace>:<name>, e.g. ${project}:webCount or aws:region`,
        );
    }
    if (!namespace || !name) {
        throw new UsageError(
            `${file}: could not parse ${JSON.stringify(key)} as a configuration key; keys are <namespace>:<name>, e.g. ${project}:webCount or aws:region`,
        );
    }
    return { namespace, name };
}

/** A config value as the Pulumi runtime holds it: scalars as their text, objects and lists as JSON. */
function configValue(key: string, value: unknown, file: string): string {
    if (value === null) {
        throw new UsageError(
            `${file}: ${key} has no value (YAML null), which Pulumi reads as "" with a warning that it will change; ` +
                `write ${key}: "" to leave it unset, or give it a value`,
        );
    }
    if (isMapping(value) && "secure" in value) {
        throw new UsageError(
            `${file}: ${key} is an encrypted secret; the offline tools cannot decrypt it (this program reads no secret config)`,
        );
    }
    return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Pulumi's check of a value against the type `Pulumi.yaml` declares for its key (workspace.ValidateConfigValue). */
function typeProblem(type: unknown, value: string, isObject: boolean): string | undefined {
    if (type === "integer" && (isObject || !/^[+-]?\d+$/.test(value))) return "a whole number";
    if (type === "boolean" && value !== "true" && value !== "false") return "true or false";
    if (type === "string" && isObject) return "a plain string";
    return undefined;
}

/** yaml.v3's float syntax (resolve.go, yamlStyleFloat). */
const yamlFloat = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/** The timestamp shapes yaml.v3 tries on a plain scalar that starts with four digits and a dash. */
const yamlTimestamp = /^\d{4}-\d{1,2}-\d{1,2}([Tt ]\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$/;
const yamlWords: Record<string, string> = {
    ...Object.fromEntries(["true", "True", "TRUE"].map((w) => [w, "true"])),
    ...Object.fromEntries(["false", "False", "FALSE"].map((w) => [w, "false"])),
};

/**
 * What the Pulumi CLI passes on for an unquoted YAML scalar that is not a string to Go's yaml.v3 (resolve.go): the
 * value's JSON text (config.object.MarshalString), so `1e1` is "10", `0x10` "16", `0123` "83" (octal), `True` "true",
 * `1_000` "1000". `undefined`: a string, passed on as written (or null, which configValue refuses). `refused`: a value the CLI cannot store as JSON (.inf, .nan).
 * Checked against pulumi/sdk v3.277.0's workspace.LoadProjectStackBytes.
 */
export function pulumiReading(text: string): { text: string; kind: string } | "refused" | undefined {
    if (text in yamlWords) return { text: yamlWords[text], kind: "boolean" };
    if (/^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/.test(text)) return "refused";
    if (!/^[-+.0-9]/.test(text)) return undefined;
    // strconv.ParseFloat fails out of range (1e999), and the scalar stays a string.
    const float = (t: string) =>
        yamlFloat.test(t) && Number.isFinite(Number(t)) ? { text: String(Number(t)), kind: "number" } : undefined;
    if (text.startsWith(".")) return float(text);
    if (yamlTimestamp.test(text)) return { text: "a Go timestamp", kind: "timestamp" };
    const plain = text.replace(/_/g, "");
    // strconv.ParseInt(plain, 0, 64), then ParseUint: a sign, then 0x, 0o, 0b or a leading 0 (octal), or decimal.
    const int = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]+|[0-9]+)$/.exec(plain);
    if (int) {
        const digits = /^0[0-7]/.test(int[2]) ? `0o${int[2].slice(1)}` : int[2];
        const n = (int[1] === "-" ? -1n : 1n) * BigInt(digits);
        if (n >= -(2n ** 63n) && n < 2n ** 64n && (n < 2n ** 63n || int[1] === "")) return { text: String(n), kind: "number" };
    }
    return float(plain);
}

/**
 * Refuses unquoted scalars that the Pulumi CLI does not pass on as written: `webCount: 1e1` becomes "10",
 * `keyName: 0123` becomes "83", and a key `0123` is no name at all. Only canonical numbers and true/false pass unquoted.
 */
function checkScalars(config: unknown, file: string): void {
    visit(config as Document.Parsed["contents"], {
        Scalar(place, node: Scalar, path) {
            if (node.type !== "PLAIN" || node.tag !== undefined || typeof node.source !== "string") return;
            const reading = pulumiReading(node.source);
            if (reading === undefined || (reading !== "refused" && reading.text === node.source)) return;
            const text = JSON.stringify(node.source);
            const setting = path.find(isPair)?.key;
            const key = isScalar(setting) ? String(setting.source) : "";
            if (place === "key" && path.filter(isPair).length === 1) {
                throw new UsageError(
                    `${file}: the key ${node.source} is a YAML ${reading === "refused" ? "number" : reading.kind}, not a name, and the Pulumi CLI refuses it; ` +
                        `keys are <namespace>:<name>, e.g. foobar:webCount (quote it, ${text}, if a name is meant)`,
                );
            }
            throw new UsageError(
                reading === "refused"
                    ? `${file}: ${key}=${node.source}: a YAML number JSON cannot hold, so the Pulumi CLI refuses the file; quote it (${text}) if the text is meant`
                    : `${file}: ${key}=${node.source}: a YAML ${reading.kind} that the Pulumi CLI passes on as ${JSON.stringify(reading.text)}, not as written; ` +
                          `write ${reading.kind === "timestamp" ? "the value" : reading.text || '""'}, or quote it (${text}) to keep the text`,
            );
        },
    });
}

/** The stack file Pulumi reads for `stack`, or a usage error naming what is there instead. */
export function stackFilePath(stack: string, root = projectRoot): string {
    checkStackName(stack);
    const found = stackFiles(root).find((f) => f.stack === stack);
    if (found) return found.file;
    const stray = ignoredStackFiles(root).find((f) => f.stack === stack);
    if (stray) throw new UsageError(stray.message);
    const project = readProject(root);
    const name = path.posix.join(project.stackDir, `Pulumi.${stack}${path.extname(project.file)}`);
    throw new UsageError(
        `no stack file ${name}; stacks in this project: ${listStacks(root).join(", ") || "none"} (add ${name} to create one)`,
    );
}

/** Reads a stack's configuration as `pulumi up --stack <stack>` would, refusing what the CLI would misread. */
export function loadStackConfig(stack: string, root = projectRoot): StackFile {
    const project = readProject(root);
    const file = stackFilePath(stack, root);
    const parsed = parseYaml(fs.readFileSync(path.join(root, file), "utf8"), file);
    const doc = (parsed.toJS() as unknown) ?? {};
    if (!isMapping(doc)) throw new UsageError(`${file}: must be a mapping with a config: section, not ${kindOf(doc)}`);

    const declared = new Map(Object.entries(project.config).map(([k, decl]) => [keyOf(parseKey(k, project.name, project.file)), decl]));
    for (const key of Object.keys(doc)) {
        if (stackFileKeys.includes(key)) continue;
        const setting = key.includes(":") || declared.has(keyOf(parseKey(key, project.name, file)));
        throw new UsageError(
            setting
                ? `${file}: ${key} is written outside config:, where Pulumi ignores it; indent it under config:`
                : `${file}: ${JSON.stringify(key)} is not a stack-file key; ${didYouMean(key, stackFileKeys)}a stack file holds ${stackFileKeys.join(", ")}`,
        );
    }
    if (doc.environment !== undefined) {
        throw new UsageError(
            `${file}: environment: imports Pulumi ESC environments, which the offline tools cannot open; set the values under config:`,
        );
    }
    const settings = doc.config ?? {};
    if (!isMapping(settings)) throw new UsageError(`${file}: config: must be a mapping of keys to values, not ${kindOf(settings)}`);
    const configNode = parsed.get("config", true);
    if (isMap(configNode)) checkScalars(configNode, file);

    const providers = providerKeys();
    const namespaces = [project.name, ...providers.keys(), "pulumi"];
    const config: Record<string, string> = {};
    for (const [key, decl] of declared) {
        const value = isMapping(decl) ? decl.default : decl;
        if (value !== undefined && value !== null && value !== "") config[key] = configValue(key, value, project.file);
    }
    const spelled = new Map<string, string>();
    for (const [rawKey, value] of Object.entries(settings)) {
        const { namespace, name } = parseKey(rawKey, project.name, file);
        const key = keyOf({ namespace, name });
        const other = spelled.get(key);
        if (other !== undefined) {
            // Pulumi keys its config by the full name, so one of the two lines wins at random (a Go map's order).
            throw new UsageError(
                `${file}: ${other} and ${rawKey} are the same setting, ${key}, given twice; Pulumi would keep either value: remove one of the lines`,
            );
        }
        spelled.set(key, rawKey);
        if (!namespaces.includes(namespace)) {
            const near = nearestName(namespace, namespaces);
            throw new UsageError(
                `${file}: ${rawKey}: "${namespace}" is not a namespace this program reads, so Pulumi would ignore the value; ` +
                    `${near ? `did you mean "${near}:${name}"? ` : ""}namespaces: ${namespaces.join(", ")}`,
            );
        }
        const known = namespace === "pulumi" ? engineKeys : providers.get(namespace);
        if (known && !known.includes(name)) {
            const near = nearestName(name, known);
            throw new UsageError(
                `${file}: ${rawKey} is not a setting of ${namespace === "pulumi" ? "the Pulumi engine" : `the ${namespace} provider`}, ` +
                    `so it would be ignored; ${near ? `did you mean "${namespace}:${near}"? ` : ""}its settings: ${known.join(", ") || "none"}`,
            );
        }
        config[key] = configValue(key, value, file);
        const decl = declared.get(key);
        const problem = isMapping(decl) ? typeProblem(decl.type, config[key], typeof value === "object") : undefined;
        if (isMapping(decl) && problem) {
            const fallback = decl.default !== undefined ? ` to get the default ${JSON.stringify(decl.default)}` : "";
            throw new UsageError(
                `${file}: ${rawKey}=${JSON.stringify(value)}: ${project.file} declares it type: ${String(decl.type)}, so the Pulumi CLI ` +
                    `refuses this value; give ${problem}, or remove the line${fallback}`,
            );
        }
    }
    return { project: project.name, stack, config };
}

const keyOf = ({ namespace, name }: { namespace: string; name: string }) => `${namespace}:${name}`;
