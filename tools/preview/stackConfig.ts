/**
 * Kept for the local cloud's imports until it reads stack files from `../stackFile` directly:
 * stack files are found and read in one place, tools/stackFile.ts.
 */
export { listStacks, loadStackConfig, projectRoot, UsageError } from "../stackFile";
export type { StackFile } from "../stackFile";
