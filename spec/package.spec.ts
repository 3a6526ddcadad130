import { describe, expect, it } from "vitest";
import pkg from "../package.json";

describe("package.json", () => {
  it("resolves every subpath's types under moduleResolution node too (typesVersions)", () => {
    // `node` (node10) resolution ignores `exports`; without typesVersions `genparty/client` has no types there.
    const subpaths = Object.entries(pkg.exports).filter(([path]) => path !== "." && path !== "./package.json");
    expect(subpaths.length).toBeGreaterThan(0);
    const typesVersions: Record<string, string[]> = pkg.typesVersions["*"];
    for (const [path, target] of subpaths) {
      const types = (target as { types: string }).types;
      expect(typesVersions[path.slice(2)], path).toEqual([types]);
    }
    expect(pkg.types).toBe(pkg.exports["."].types);
  });
});
