import { exports } from "cloudflare:workers";

/** A client WebSocket for specs: buffers what arrives, so a spec awaits messages in order. */
export class TestSocket {
  readonly received: (string | ArrayBuffer)[] = [];
  readonly closed: Promise<{ code: number; reason: string; wasClean: boolean }>;
  #waiters: Array<() => void> = [];
  #read = 0;

  constructor(
    readonly socket: WebSocket,
    readonly response: Response,
  ) {
    socket.accept();
    socket.addEventListener("message", (event) => {
      this.received.push(event.data as string | ArrayBuffer);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
        for (const wake of this.#waiters.splice(0)) wake();
      });
    });
  }

  /** The next message not read yet. */
  async next(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.#read >= this.received.length) {
      if (Date.now() > deadline) throw new Error(`no message within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return String(this.received[this.#read++]);
  }

  send(data: string | ArrayBuffer): void {
    this.socket.send(data);
  }

  /** Sends and returns the next reply. */
  async ask(data: string): Promise<string> {
    this.send(data);
    return this.next();
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }
}

/** Opens a WebSocket through the fixture worker, e.g. `connect("/room/a?_pk=alice")`. */
export async function connect(path: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  const response = await exports.default.fetch(`http://spec${path}`, { headers: { Upgrade: "websocket", ...headers } });
  if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade failed: ${response.status} ${await response.text()}`);
  return new TestSocket(response.webSocket, response);
}

/** Reads a room's JSON endpoint (events, connection ids). */
export async function roomJson<T>(path: string): Promise<T> {
  return (await exports.default.fetch(`http://spec${path}`)).json<T>();
}
