import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "lib/index.ts", "client/index": "lib/client/index.ts", "testing/index": "lib/testing/index.ts", "machine/index": "lib/machine/index.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  tsconfig: "tsconfig.build.json",
  // Provided by the Workers runtime and the vitest pool, never bundled.
  external: ["cloudflare:workers", "cloudflare:test", "xstate", "partysocket"],
});
