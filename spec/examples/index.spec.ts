import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_NAME_LENGTH } from "../../lib/index.js";

const get = (path: string, init?: RequestInit) => exports.default.fetch(`http://examples${path}`, init);

/** The hrefs of a page's links. */
const links = (html: string) => [...html.matchAll(/<a href="([^"]+)"/g)].map((match) => match[1]);

describe("The landing page", () => {
  it("links every example's demo room, and each link opens a page", async () => {
    const response = await get("/");
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const hrefs = links(await response.text());
    expect(hrefs).toEqual(["/counter/demo", "/chat/demo", "/partyserver-readme/demo", "/tic-tac-toe/demo"]);
    for (const href of hrefs) {
      // The counter serves its page to browsers (Accept: text/html) and JSON to the rest.
      const page = await get(href!, { headers: { accept: "text/html" } });
      expect(page.status, href).toBe(200);
      expect(page.headers.get("content-type"), href).toMatch(/^text\/html/);
      // Every page links back to the list.
      expect(links(await page.text()), href).toContain("/");
    }
  });

  it("answers anything but GET or HEAD with 405 and an Allow header", async () => {
    const response = await get("/", { method: "POST" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("Routing", () => {
  it("answers an unknown example with 404 listing the examples", async () => {
    const response = await get("/nope/demo");
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(text).toMatch(/^No example at \/nope\./);
    for (const path of ["counter", "chat", "partyserver-readme", "tic-tac-toe"]) expect(text).toContain(`/${path}/:name`);
  });

  it.each([
    ["an empty one", "/chat/", /Bad room name: it is empty\. Use \/chat\/<name>, e\.g\. \/chat\/demo\./],
    ["a missing one", "/counter", /Bad room name: it is empty/],
    ["bad URL encoding", "/tic-tac-toe/%E0%A4%A", /Bad room name: it is not valid URL encoding/],
    ["one over the length limit", `/chat/${"n".repeat(MAX_NAME_LENGTH + 1)}`, new RegExp(`Bad room name: it is at most ${MAX_NAME_LENGTH} characters after URL decoding; got ${MAX_NAME_LENGTH + 1} \\("n{24}…"\\)\\. Use /chat/<name>`)],
  ])("answers a bad room name (%s) with 400 saying why", async (_case, path, message) => {
    const response = await get(path);
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(message);
  });

  it("takes a room name of exactly the length limit, in characters as getActor counts them", async () => {
    expect((await get(`/chat/${"n".repeat(MAX_NAME_LENGTH)}`)).status).toBe(200);
    expect((await get(`/chat/${encodeURIComponent("😀".repeat(MAX_NAME_LENGTH))}`)).status).toBe(200);
  });

  it("answers an unknown party with 404 listing the parties", async () => {
    const response = await get("/parties/counter-example/demo");
    expect(response.status).toBe(404);
    expect(await response.text()).toMatch(/\/parties\/chat\/:name, \/parties\/my-server\/:name and \/parties\/tic-tac-toe\/:name/);
  });

  it.each(["chat", "my-server", "tic-tac-toe"])("answers a bad room name under /parties/%s/ with 400", async (party) => {
    const response = await get(`/parties/${party}/${"n".repeat(MAX_NAME_LENGTH + 1)}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/A room name is at most 256 characters/);
  });

  it.each(["chat", "partyserver-readme", "tic-tac-toe"])("serves only the page itself at /%s/:name", async (path) => {
    const deeper = await get(`/${path}/demo/more`);
    expect(deeper.status).toBe(404);
    expect(await deeper.text()).toMatch(/Nothing at \/more here: this example is the page itself\./);
    const post = await get(`/${path}/demo`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});
