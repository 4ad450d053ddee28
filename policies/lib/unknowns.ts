/**
 * Values a preview cannot know yet (an id AWS has not assigned, a user-data
 * rendered from one). The policy runtime wraps every resource's properties in
 * `unknownCheckingProxy`, which throws `UnknownValueError` when a policy reads
 * such a value. These helpers turn that throw into a value a check can branch
 * on, so a policy judges what is known and never guesses the rest.
 */
import { UnknownValueError } from "@pulumi/policy";

export const unknown: unique symbol = Symbol("unknown");
export type Unknown = typeof unknown;
export type Known<T> = T | Unknown;

/** Thrown by `need`: the judgment depends on a value that is unknown during the preview. */
export class Undecidable extends Error {
    constructor() {
        super("depends on a value that is unknown during preview");
    }
}

/** Either way a judgment learns it cannot be made: the runtime's proxy threw, or `need` did. */
export function isUndecidable(err: unknown): boolean {
    return err instanceof (UnknownValueError as new (...args: unknown[]) => Error) || err instanceof Undecidable;
}

/** Runs `read`; `unknown` when it needed a value the preview cannot know. */
export function known<T>(read: () => T): Known<T> {
    try {
        return read();
    } catch (err) {
        if (isUndecidable(err)) return unknown;
        throw err;
    }
}

/** The value, or give up the judgment that needs it. */
export function need<T>(value: Known<T>): T {
    if (value === unknown) throw new Undecidable();
    return value;
}

/** True if any is true; unknown if none is but some are unknown. */
export function anyOf(verdicts: Known<boolean>[]): Known<boolean> {
    return verdicts.includes(true) ? true : verdicts.includes(unknown) ? unknown : false;
}

/**
 * An array property read element by element: `unknown` when the array itself
 * is unknown, otherwise each element known or not. Absent means empty.
 */
export function knownList<T>(read: () => T[] | undefined | null): Known<Known<T>[]> {
    const list = known(read);
    if (list === unknown) return unknown;
    if (!Array.isArray(list)) return [];
    return Array.from({ length: list.length }, (_, i) => known(() => list[i]));
}

/** A string property, `undefined` when absent or not a string. */
export function knownString(read: () => unknown): Known<string | undefined> {
    const v = known(read);
    return v === unknown ? unknown : typeof v === "string" ? v : undefined;
}

/** A boolean property, `undefined` when absent. */
export function knownBool(read: () => unknown): Known<boolean | undefined> {
    const v = known(read);
    return v === unknown ? unknown : typeof v === "boolean" ? v : undefined;
}
