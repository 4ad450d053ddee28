/**
 * Beyond the seeds: baseline hygiene every instance of this design should
 * keep, so a later change cannot quietly undo it.
 */
import { gaps, list, resourcePolicy, stackPolicy } from "./lib/policy";
import { hasRole, types } from "./lib/resources";
import { known, knownBool, knownList, knownString, need, unknown } from "./lib/unknowns";
import { cloudConfigOf, userDataOf } from "./lib/userData";

export const imdsv2 = resourcePolicy(
    {
        name: "hygiene-imdsv2",
        description:
            "Instances require IMDSv2 session tokens, so a request forgery on a server cannot read the instance role's credentials.",
        severity: "high",
        gap: gaps.hardening,
        remediationSteps:
            'Set `metadataOptions: { httpTokens: "required" }` on the instance (the program\'s createTierInstance does this for every tier).',
    },
    [types.instance, types.launchTemplate],
    (r, ctx) => {
        const tokens = need(knownString(() => r.props.metadataOptions?.httpTokens));
        const endpoint = need(knownString(() => r.props.metadataOptions?.httpEndpoint));
        if (tokens !== "required" && endpoint !== "disabled") {
            ctx.report(r, `${r.name} accepts IMDSv1 requests (metadataOptions.httpTokens is ${tokens ?? "unset"}).`);
        }
    },
);

export const encryptedVolumes = resourcePolicy(
    {
        name: "hygiene-encrypted-volumes",
        description: "Every EBS volume (root, attached or standalone) is encrypted.",
        severity: "high",
        gap: gaps.hardening,
        remediationSteps:
            "Set `encrypted: true` on the volume or the instance's block devices (the program encrypts every root and data volume).",
    },
    [types.instance, types.volume],
    (r, ctx) => {
        const plain: string[] = [];
        if (r.type === types.volume) {
            if (need(knownBool(() => r.props.encrypted)) !== true) plain.push("the volume");
        } else {
            if (need(knownBool(() => r.props.rootBlockDevice?.encrypted)) !== true) plain.push("the root volume");
            for (const device of need(knownList<{ deviceName?: string; encrypted?: boolean }>(() => r.props.ebsBlockDevices))) {
                const d = need(device);
                if (d.encrypted !== true) plain.push(`volume ${d.deviceName ?? "(unnamed)"}`);
            }
        }
        if (plain.length > 0) ctx.report(r, `${r.name}: ${list(plain)} ${plain.length === 1 ? "is" : "are"} not encrypted.`);
    },
);

/** Where generated secrets live, by resource type. SSM parameters count only as SecureStrings. */
const secretOutputs: Record<string, string[]> = {
    "random:index/randomPassword:RandomPassword": ["result"],
    "tls:index/privateKey:PrivateKey": ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"],
    "aws:secretsmanager/secretVersion:SecretVersion": ["secretString"],
    [types.ssmParameter]: ["value"],
};

export const noSecretsInUserData = stackPolicy<{ minSecretLength: number }>(
    {
        name: "hygiene-no-secrets-in-user-data",
        description:
            "No generated secret (password, private key, SecureString) appears in any user-data, which anyone allowed to describe the instance can read.",
        severity: "critical",
        gap: gaps.hardening,
        remediationSteps:
            "Store the secret as an SSM SecureString and let the instance fetch it at boot through its role; the user-data carries only the parameter name.",
        config: {
            minSecretLength: { type: "integer", default: 8, description: "Shorter values are not compared (they would match by chance)." },
        },
    },
    (stack, ctx) => {
        const secrets = stack.resources.flatMap((r) => {
            const outputs = secretOutputs[r.type] ?? [];
            if (r.type === types.ssmParameter && knownString(() => r.props.type) !== "SecureString") return [];
            return outputs
                .map((o) => knownString(() => r.props[o]))
                .filter((v): v is string => typeof v === "string" && v.length >= ctx.config.minSecretLength)
                .map((value) => ({ from: r, value }));
        });
        if (secrets.length === 0) return;
        for (const instance of stack.ofType(types.instance, types.launchTemplate)) {
            ctx.judge(() => {
                const text = need(userDataOf(instance));
                if (text === undefined) return;
                // Also the files cloud-init writes, which may be base64 or gzip encoded.
                const files = known(() => need(cloudConfigOf(instance)));
                const texts = [text, ...(files !== unknown && files ? files.files.values() : [])];
                const leaked = secrets.filter(({ value }) =>
                    texts.some((t) => t.includes(value) || t.includes(Buffer.from(value).toString("base64"))),
                );
                const sources = [...new Set(leaked.map((s) => s.from.name))];
                if (sources.length > 0) {
                    ctx.report(
                        instance,
                        `${instance.name}'s user-data contains the value of ${list(sources)}: anyone who can read the instance's attributes can read it.`,
                    );
                }
            });
        }
    },
);

export const databaseProtection = resourcePolicy(
    {
        name: "hygiene-database-protection",
        description:
            "Database instances and their volumes cannot be deleted or replaced by accident: Pulumi protect, termination protection, and no replacement on a new AMI or user-data.",
        severity: "high",
        gap: gaps.hardening,
        remediationSteps: "Set `dbDeletionProtection` to `true` (the default; `pulumi config set dbDeletionProtection true`).",
    },
    [types.instance, types.volume],
    (r, ctx) => {
        if (!hasRole(r, "db")) return;
        const risks: string[] = [];
        if (!r.opts.protect) risks.push("it is not protected (protect: false)");
        if (r.type === types.instance) {
            if (need(knownBool(() => r.props.disableApiTermination)) !== true)
                risks.push("termination protection is off (disableApiTermination)");
            const ignored = r.opts.ignoreChanges ?? [];
            if (!ignored.includes("ami")) risks.push("a new AMI would replace it (ignoreChanges lacks ami)");
            const replaceOnUserData = need(knownBool(() => r.props.userDataReplaceOnChange));
            if (replaceOnUserData === true && !ignored.includes("userData") && !ignored.includes("userDataBase64"))
                risks.push("a user-data change would replace it");
        }
        if (risks.length > 0) ctx.report(r, `${r.name} (database) can be lost by accident: ${risks.join("; ")}.`);
    },
);

export const hygienePolicies = [imdsv2, encryptedVolumes, noSecretsInUserData, databaseProtection];
