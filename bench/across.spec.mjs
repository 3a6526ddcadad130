import { describe, expect, it } from "vitest";
import { acrossRuns, byRound, partyserverMargins, runsToDecide, selectRuns, worstShortfall } from "./across.mjs";

/** A run whose lone echo CPU per message is `raw`, `server` and `actor` for every sample. */
function run(raw, server, actor) {
  const runs = (value) => [{ cpuUserUsPerMsg: value }, { cpuUserUsPerMsg: value }, { cpuUserUsPerMsg: value }];
  return { samples: { echo: { raw: runs(raw), "gp-server": runs(server), "gp-actor": runs(actor) } } };
}

const rowOf = (rows, heading, label) => rows.find((row) => row.heading === heading && row.label === label);

describe("acrossRuns", () => {
  it("takes each run's ratio, judges their median, and counts the runs that met the target", () => {
    const runs = [run(100, 105, 130), run(100, 112, 125), run(100, 104, 118), run(100, 108, 121), run(100, 103, 127), run(100, 114, 124)];
    const row = rowOf(acrossRuns(runs), "≤ 1.10× raw", "echo, 1 client: DO CPU per message");
    const server = row.cells["gp-server"];
    expect(server.ratio).toBeCloseTo(1.065, 5);
    expect(server.runs).toBe(6);
    expect(server.met).toBe(4);
    expect(server.interval.low).toBeGreaterThanOrEqual(1.03);
    expect(server.interval.high).toBeLessThanOrEqual(1.14);
    const actor = row.cells["gp-actor"];
    expect(actor.met).toBe(0);
    expect(actor.interval.low).toBeGreaterThan(1.1);
  });

  it("counts for each row only the runs that measured it, and judges a row under five runs on their samples pooled", () => {
    const old = { samples: { echo: { raw: [{ cpuUserUsPerMsg: 100 }], "gp-server": [{ cpuUserUsPerMsg: 90 }] } } };
    const rows = acrossRuns([run(100, 120, 100), old]);
    const server = rowOf(rows, "≤ 1.10× raw", "echo, 1 client: DO CPU per message").cells["gp-server"];
    // Pooled: raw 100 ×4, Server 120 ×3 and 90: medians 100 and 120, not the median of 1.2 and 0.9.
    expect(server).toEqual({ ratio: 1.2, interval: undefined, met: 1, runs: 2, pooled: true });
    expect(rowOf(rows, "≤ 1.10× raw", "echo, 1 client: DO CPU per message").cells["gp-actor"].runs).toBe(1);
  });

  it("gives a pooled row the interval of its samples when they are enough for one", () => {
    const noisy = (raw, actor) => ({ samples: { echo: { raw: raw.map((v) => ({ cpuUserUsPerMsg: v })), "gp-actor": actor.map((v) => ({ cpuUserUsPerMsg: v })) } } });
    const rows = acrossRuns([noisy([100, 104, 98], [106, 101, 109]), noisy([97, 103, 101], [104, 110, 99])]);
    const actor = rowOf(rows, "≤ 1.10× raw", "echo, 1 client: DO CPU per message").cells["gp-actor"];
    expect(actor.pooled).toBe(true);
    expect(actor.ratio).toBeCloseTo(105 / 100.5, 5);
    expect(actor.interval.low).toBeLessThan(actor.ratio);
    expect(actor.interval.high).toBeGreaterThan(actor.ratio);
  });

  // A run from before the field measured the scenario another way, and the row must not count it:
  // persisted rooms appended each message (their own write, not the Actor's); measured calls reused
  // the warm-up's ids (the Actor answered some from memory).
  it.each([
    { rows: "a persisted row only between runs whose rooms wrote the same per message", field: { persistedWrite: "count" }, scenario: "acks", metric: "perSec", newest: 1000, before: 800, heading: "≥ 0.95× raw", label: "acks, a new room's first N: acks/s" },
    { rows: "a socket-call row only between runs whose measured calls had ids of their own", field: { callIds: "fresh" }, scenario: "calls", metric: "cpuUserUsPerMsg", newest: 120, before: 100, heading: "≤ 1.10× raw", label: "socket calls, 1 client: DO CPU per call" },
  ])("compares $rows", ({ field, scenario, metric, newest, before, heading, label }) => {
    const withScenario = (config, actor) => ({ config, samples: { ...run(100, 100, 100).samples, [scenario]: { raw: [{ [metric]: 100 }], "gp-actor": [{ [metric]: actor }] } } });
    const rows = acrossRuns([withScenario(field, newest), withScenario({}, before), withScenario({}, before)]);
    expect(rowOf(rows, heading, label).cells["gp-actor"]).toMatchObject({ ratio: newest / 100, runs: 1, pooled: true });
    expect(rowOf(rows, "≤ 1.10× raw", "echo, 1 client: DO CPU per message").cells["gp-actor"].runs).toBe(3);
  });

  // Runs without unmeasured passes first measured V8's compiling in their first rounds.
  it("compares a lone client's rows only between runs with as many warm-up passes, and other rows across them", () => {
    const withWarmUp = (passes, actor) => ({ config: passes === undefined ? {} : { loneWarmUpPasses: passes }, samples: { ...run(100, 100, actor).samples, parallel: { raw: [{ cpuUserUsPerMsg: 100 }], "gp-actor": [{ cpuUserUsPerMsg: 100 }] } } });
    const rows = acrossRuns([withWarmUp(12, 105), withWarmUp(undefined, 130), withWarmUp(0, 130)]);
    expect(rowOf(rows, "≤ 1.10× raw", "echo, 1 client: DO CPU per message").cells["gp-actor"]).toMatchObject({ ratio: 1.05, runs: 1, pooled: true });
    expect(rowOf(rows, "≤ 1.10× raw", "echo, 20 clients: DO CPU per message").cells["gp-actor"].runs).toBe(3);
  });
});

describe("byRound", () => {
  /** A run of `rounds` rounds of two passes, each target's CPU per call given pass by pass. */
  const roundsRun = (date, raw, actor, rounds = 2) => ({
    environment: { date },
    config: { rounds, lonePasses: 2 },
    samples: { calls: { raw: raw.map((v) => ({ cpuUserUsPerMsg: v })), "gp-actor": actor.map((v) => ({ cpuUserUsPerMsg: v })) } },
  });

  it("gives each room's ratio to raw round by round, each round the median of its passes, and the median over runs", () => {
    const runs = [roundsRun("2026-11-28T02:00:00Z", [30, 34, 32, 32], [40, 40, 33, 33]), roundsRun("2026-11-28T01:00:00Z", [40, 40, 30, 30], [44, 44, 30, 36])];
    const { kinds, perRun, medians } = byRound(runs, "calls");
    expect(kinds).toEqual(["gp-actor"]);
    expect(perRun.map(({ ratios }) => ratios["gp-actor"])).toEqual([
      [40 / 32, 33 / 32],
      [44 / 40, 33 / 30],
    ]);
    expect(medians["gp-actor"][0]).toBeCloseTo((40 / 32 + 44 / 40) / 2, 10);
    expect(medians["gp-actor"][1]).toBeCloseTo((33 / 32 + 33 / 30) / 2, 10);
  });

  it("leaves out a run cut short, whose passes can't be told into rounds, and a room it measured fewer times", () => {
    const cut = roundsRun("2026-11-28T02:00:00Z", [30, 30, 30], [33, 33, 33]);
    const short = roundsRun("2026-11-28T01:00:00Z", [30, 30, 30, 30], [33, 33]);
    expect(byRound([cut, short], "calls")).toEqual({ kinds: [], perRun: [{ date: "2026-11-28T01:00:00Z", ratios: {} }], medians: {} });
  });
});

describe("selectRuns", () => {
  /** A complete run on machine `kernel` of bundle `bundle`. */
  const made = (source, bundle, kernel = "fc-v595", status = "complete") => ({
    source,
    run: { status, config: {}, environment: { bundleSha: bundle, cores: 2, cpuModel: "AMD EPYC", platform: `Linux 6.18.44-${kernel}` } },
  });
  const sources = (runs) => runs.map((run) => run.source);

  it("takes the newest runs on the newest one's kind of machine, skipping runs cut short", () => {
    const candidates = [made("a", "x"), made("b", "x", "fc-v669"), made("c", "y", "fc-v595", "timed out"), made("d", "y"), made("e", "z")];
    expect(sources(selectRuns(candidates, { count: 2 }))).toEqual(["a", "d"]);
    expect(sources(selectRuns(candidates, { machine: "fc-v669" }))).toEqual(["b"]);
  });

  it("with sameBundle, takes every run since the bundle last changed, and reads no candidate past that", () => {
    let read = 0;
    function* lazily() {
      for (const candidate of [made("a", "x"), made("b", "y", "fc-v669"), made("c", "x"), made("d", "y"), made("e", "x")]) {
        read++;
        yield candidate;
      }
    }
    expect(sources(selectRuns(lazily(), { sameBundle: true }))).toEqual(["a", "c"]);
    expect(read).toBe(4);
    expect(sources(selectRuns([made("a", "x"), made("c", "x"), made("e", "x")], { count: 2, sameBundle: true }))).toEqual(["a", "c"]);
  });
});

describe("runsToDecide", () => {
  const cell = (ratio, low, high, extra = {}) => ({ ratio, interval: { low, high }, runs: 12, ...extra });

  it("projects the runs a median inside the target needs for its interval to clear the limit", () => {
    // The low side, 0.04 below the median, must shrink inside the 0.02 to the limit: (0.04 / 0.02)² × 12 runs.
    expect(runsToDecide(cell(0.97, 0.93, 1.0), 0.95, true)).toEqual({ verdict: "met", runs: 48 });
  });

  it("projects a miss for a median outside the target", () => {
    // (0.07 / 0.02)² × 12 = 147.
    expect(runsToDecide(cell(1.12, 1.05, 1.15), 1.1, false)).toEqual({ verdict: "missed", runs: 147 });
  });

  it("calls a median on the limit a tie no number of runs decides", () => {
    expect(runsToDecide(cell(1, 0.97, 1.03), 1, true)).toEqual({ verdict: "met", runs: Infinity });
  });

  it("says nothing of a cell already decided, or judged on pooled samples", () => {
    expect(runsToDecide(cell(1.05, 1.03, 1.08), 1.1, false)).toBeUndefined();
    expect(runsToDecide(cell(1.12, 1.11, 1.14), 1.1, false)).toBeUndefined();
    expect(runsToDecide(cell(0.97, 0.93, 1.0, { pooled: true }), 0.95, true)).toBeUndefined();
    expect(runsToDecide({ ratio: 0.97, interval: undefined, runs: 2 }, 0.95, true)).toBeUndefined();
  });
});

describe("worstShortfall", () => {
  const cell = (low, high) => ({ ratio: (low + high) / 2, interval: { low, high }, runs: 14 });

  it("gives how far the interval's wrong side reaches past the limit, as a fraction of it", () => {
    expect(worstShortfall(cell(0.93, 1.01), 1, true)).toBeCloseTo(0.07, 10);
    expect(worstShortfall(cell(0.97, 1.04), 1, false)).toBeCloseTo(0.04, 10);
    expect(worstShortfall(cell(0.9, 1.21), 1.1, false)).toBeCloseTo(0.1, 10);
  });

  it("is 0 for an interval wholly on the target's side, and undefined without one", () => {
    expect(worstShortfall(cell(1.02, 1.08), 1, true)).toBe(0);
    expect(worstShortfall(cell(0.8, 0.95), 1, false)).toBe(0);
    expect(worstShortfall({ ratio: 1.2, interval: undefined, runs: 2 }, 1, false)).toBeUndefined();
  });
});

describe("partyserverMargins", () => {
  const row = (heading, higherIsBetter, server, actor) => ({ heading, label: heading, limit: heading.endsWith("partyserver") ? 1 : 0.95, higherIsBetter, cells: { "gp-server": server, "gp-actor": actor } });
  const cell = (low, high) => ({ ratio: (low + high) / 2, interval: { low, high }, runs: 14 });

  it("counts the partyserver rows each margin would call met, the rows against raw left out", () => {
    const rows = [
      row("≥ partyserver", true, cell(1.02, 1.1), cell(0.97, 1.02)),
      row("≤ partyserver", false, cell(0.98, 1.02), cell(0.96, 1.06)),
      row("≥ partyserver", true, cell(0.93, 1.01), undefined),
      row("≥ 0.95× raw", true, cell(0.8, 0.9), cell(0.8, 0.9)),
    ];
    expect(partyserverMargins(rows, [0, 0.02, 0.03, 0.05, 0.07])).toEqual({
      "gp-server": { rows: 3, met: [1, 2, 2, 2, 3] },
      "gp-actor": { rows: 2, met: [0, 0, 1, 1, 2] },
    });
  });
});
