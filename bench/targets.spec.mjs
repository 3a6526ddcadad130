import { describe, expect, it } from "vitest";
import { targetsTable, verdict } from "./targets.mjs";

describe("verdict", () => {
  it("says met or missed only when the whole interval is on one side of the target", () => {
    expect(verdict(1.05, { low: 1.01, high: 1.09 }, 1.1, false)).toBe("met");
    expect(verdict(1.2, { low: 1.12, high: 1.3 }, 1.1, false)).toBe("missed");
    expect(verdict(1.08, { low: 1.0, high: 1.2 }, 1.1, false)).toBe("can't tell");
    expect(verdict(0.97, { low: 0.96, high: 1.02 }, 0.95, true)).toBe("met");
    expect(verdict(0.8, { low: 0.7, high: 0.9 }, 0.95, true)).toBe("missed");
  });

  it("decides by the median alone without an interval, and says so", () => {
    expect(verdict(1.09, undefined, 1.1, false)).toBe("met (median)");
    expect(verdict(0.94, undefined, 0.95, true)).toBe("missed (median)");
  });
});

describe("targetsTable", () => {
  const runs = (values, metric = "cpuUserUsPerMsg") => values.map((value) => ({ [metric]: value }));

  it("checks each genparty room against raw and partyserver, and counts the verdicts", () => {
    const spread = [0, 1, -1, 2, -2, 0.5, -0.5, 1.5, -1.5];
    const samples = {
      echo: {
        raw: runs(spread.map((d) => 100 + d)),
        partyserver: runs(spread.map((d) => 120 + d)),
        "gp-server": runs(spread.map((d) => 104 + d)),
        "gp-actor": runs(spread.map((d) => 130 + d)),
      },
    };
    const { table, counts } = targetsTable(samples);
    expect(table).toContain("| ≤ 1.10× raw | echo, 1 client: DO CPU per message | 1.04× <sub>");
    expect(table).toMatch(/\| ≤ 1\.10× raw \| echo, 1 client: DO CPU per message \| [^|]+ met \| 1\.30× <sub>[^|]+ missed \|/);
    expect(table).toMatch(/\| ≤ partyserver \| echo, 1 client: DO CPU per message \| 0\.87× <sub>[^|]+ met \| 1\.08× <sub>[^|]+ missed \|/);
    expect(counts).toEqual({ "gp-server": { met: 2, "can't tell": 0, missed: 0 }, "gp-actor": { met: 0, "can't tell": 0, missed: 2 } });
  });

  it("leaves out rows the run has no raw room for", () => {
    expect(targetsTable({ echo: { "gp-server": runs([1, 2, 3]) } }).table).toBe("");
  });
});
