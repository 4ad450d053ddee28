// The files a published project carries, held to package.json: the license it declares, a changelog entry for its version.
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const read = (f: string) => fs.readFileSync(path.join(root, f), "utf8");
const pkg = JSON.parse(read("package.json")) as { version: string; license: string };

test("LICENSE is the MIT license that package.json and the policy pack declare", () => {
    expect(pkg.license).toBe("MIT");
    expect((JSON.parse(read("policies/package.json")) as { license: string }).license).toBe("MIT");
    const license = read("LICENSE");
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} \S/);
    expect(license).toContain("Permission is hereby granted, free of charge, to any person obtaining a copy");
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
});

test("CHANGELOG.md has an Unreleased section and a dated entry for package.json's version", () => {
    const changelog = read("CHANGELOG.md");
    expect(changelog).toMatch(/^## \[Unreleased\]$/m);
    expect(changelog).toMatch(new RegExp(`^## \\[${pkg.version.replace(/\./g, "\\.")}\\] - \\d{4}-\\d{2}-\\d{2}$`, "m"));
});
