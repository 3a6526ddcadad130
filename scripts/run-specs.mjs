// Runs the spec suite and ends with the plain line CI reads: "N passed, N failed".
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";

const resultFile = ".vitest-result.json";
rmSync(resultFile, { force: true });
const run = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${resultFile}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
if (!existsSync(resultFile)) {
  console.log("0 passed, 1 failed");
  process.exit(run.status || 1);
}
const result = JSON.parse(readFileSync(resultFile, "utf8"));
// A file that fails to load has no failed test but must still count as a failure.
const failed = result.numFailedTests > 0 ? result.numFailedTests : run.status ? 1 : 0;
console.log(`${result.numPassedTests} passed, ${failed} failed`);
process.exit(run.status ?? 1);
