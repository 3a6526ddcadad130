#!/usr/bin/env node
// bench/README.md's "Latest results": the newest full run's bench/results.md, between the markers.
// `node bench/run.mjs` refreshes it after a complete full-size run of every target and scenario
// (narrowed, quick, smoke and V8-flagged runs write files of their own and leave it); by hand,
// `node bench/readme-results.mjs` copies bench/results.md in again.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const README = join(HERE, "README.md");
const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

/** The block for README.md: what the run was and how far to trust it alone, then results.md from its environment list on. */
export function latestResults(resultsMd) {
  const written = /^Written by `([^`]+)` on (\S+?)(?:\.\d+)?Z/m.exec(resultsMd);
  const list = resultsMd.indexOf("\n- ");
  if (!written || list < 0) throw new Error("bench/results.md doesn't look like a report of bench/run.mjs (no \"Written by\" line or environment list).");
  return [
    `From \`bench/results.md\`, written by \`${written[1]}\` on ${written[2]}Z. One run moves ±10–20% on a`,
    "lone client's rows and up to ±25% on its fan-out rows: read it with the others,",
    '`node bench/across.mjs` (see "Where genparty stands" below).',
    "",
    resultsMd.slice(list + 1).trimEnd(),
  ].join("\n");
}

/** Replaces the block between the markers of `readme` (text) with `block`. */
export function withLatestResults(readme, block) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`bench/README.md has no ${START} … ${END} block to write the latest results into.`);
  return `${readme.slice(0, start + START.length)}\n${block}\n${readme.slice(end)}`;
}

export function refreshReadme(resultsMd) {
  writeFileSync(README, withLatestResults(readFileSync(README, "utf8"), latestResults(resultsMd)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  refreshReadme(readFileSync(join(HERE, "results.md"), "utf8"));
  console.log("bench/README.md: Latest results now from bench/results.md");
}
