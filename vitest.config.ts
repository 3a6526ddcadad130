import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./spec/wrangler.toml" } })],
  test: {
    include: ["spec/**/*.spec.ts"],
    testTimeout: 20_000,
  },
});
