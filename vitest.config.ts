import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { configDefaults, defineConfig } from "vitest/config";

// Two workers, one project each: a spec runs inside the worker it tests, so SELF and env are
// that worker's. "lib" runs the fixture worker (spec/wrangler.toml); "examples" runs the worker
// `npm start` serves (./wrangler.toml), so a broken example fails the suite. A third project,
// "bench", runs the bench's arithmetic in Node.
export default defineConfig({
  test: {
    testTimeout: 20_000,
    projects: [
      {
        extends: true,
        plugins: [cloudflareTest({ wrangler: { configPath: "./spec/wrangler.toml" } })],
        test: { name: "lib", include: ["spec/**/*.spec.ts"], exclude: [...configDefaults.exclude, "spec/examples/**"] },
      },
      {
        extends: true,
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "examples", include: ["spec/examples/**/*.spec.ts"] },
      },
      // The bench's own arithmetic, in Node where the bench runs.
      { extends: true, test: { name: "bench", environment: "node", include: ["bench/**/*.spec.mjs"] } },
    ],
  },
});
