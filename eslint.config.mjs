// ESLint for the program, the policy pack, the tools and the tests.
// Typed linting, because @pulumi/eslint-plugin's rules need the types to see an Output in a template literal.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "bin/", "coverage/", "reports/", "policies/node_modules/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
        },
    },
    {
        // Tests load modules under jest's isolation and speak the analyzer's untyped gRPC protocol.
        files: ["tests/**/*.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off", "@typescript-eslint/no-explicit-any": "off" },
    },
    {
        files: ["**/*.js", "**/*.mjs"],
        languageOptions: { globals: { ...globals.node } },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    prettier,
);
