import { describe, expect, it } from "vitest";
import { latestResults, withLatestResults } from "./readme-results.mjs";

const RESULTS = [
  "# genparty benchmark results",
  "",
  "Written by `node bench/run.mjs` on 2026-11-27T22:30:44.335Z. How to read them: bench/README.md.",
  "",
  "- Node v20.20.2, wrangler 4.86.0",
  "- Sizes: echo 2000 sequential",
  "",
  "## Issue 7's targets",
  "",
  "| target | workload · metric | Server | Actor |",
  "",
].join("\n");

describe("README's latest results", () => {
  it("takes the report from its environment list on, under a line naming the run", () => {
    const block = latestResults(RESULTS);
    expect(block.split("\n")[0]).toBe("From `bench/results.md`, written by `node bench/run.mjs` on 2026-11-27T22:30:44Z. One run moves ±10–20% on a");
    expect(block).toContain("- Node v20.20.2, wrangler 4.86.0\n- Sizes: echo 2000 sequential\n\n## Issue 7's targets");
    expect(block).not.toContain("# genparty benchmark results");
    expect(block.endsWith("| target | workload · metric | Server | Actor |")).toBe(true);
  });

  it("replaces what stood between the markers and leaves the rest of the README", () => {
    const readme = "# bench\n\n## Latest results\n\n<!-- results:start -->\nold table\n<!-- results:end -->\n\n## After\n";
    expect(withLatestResults(readme, "new table")).toBe("# bench\n\n## Latest results\n\n<!-- results:start -->\nnew table\n<!-- results:end -->\n\n## After\n");
  });

  it("refuses a README without the markers and a file that isn't a report", () => {
    expect(() => withLatestResults("# bench\n", "x")).toThrow(/no <!-- results:start -->/);
    expect(() => latestResults("# something else\n")).toThrow(/doesn't look like a report/);
    expect(() => latestResults(RESULTS.split("\n").filter((line) => !line.startsWith("- ")).join("\n"))).toThrow(/doesn't look like a report/);
  });
});
