import { describe, expect, it } from "vitest";
import { errorResponse, responseFor } from "../../lib/actor/http-response.js";
import { ActorStoppedError, CallTimeoutError, RemoteError } from "../../lib/index.js";

describe("HTTP answers to failed requests", () => {
  it("answers a request not answered in time with 504, saying that queued time counts", async () => {
    const response = errorResponse(new CallTimeoutError("late"), "Room:a", 5_000);
    expect(response.status).toBe(504);
    expect(await response.text()).toBe(
      "Room:a did not answer this request within 5000 ms of its arrival (time spent queued behind other messages, or in a slow start, counts). Answer sooner, or reply first and finish the work in a later turn.",
    );
  });

  it("answers a stopped actor with 503 and its reason, anything else with 500 and no detail", async () => {
    const stopped = errorResponse(new ActorStoppedError("Room:a stopped (shutdown) before replying to this call."), "Room:a");
    expect(stopped.status).toBe(503);
    expect(await stopped.text()).toMatch(/stopped \(shutdown\)/);
    const failed = errorResponse(new RemoteError("secret /srv/app.ts:1", "TypeError"), "Room:a");
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe("Internal error in Room:a");
  });

  it("answers a handler that replied with something other than a Response with 500", async () => {
    const response = responseFor({ ok: true, value: "not a response" }, "Room:a", 5_000);
    expect(response.status).toBe(500);
  });
});
