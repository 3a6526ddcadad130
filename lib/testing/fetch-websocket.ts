/** The client socket `fetchWebSocket` makes: what partysocket and `genparty/client` use of a WebSocket. */
export interface FetchWebSocket extends EventTarget {
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  readonly url: string;
  readonly readyState: number;
  binaryType: "arraybuffer" | "blob";
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor, as `connect({ WebSocket })` and partysocket take one. */
export interface FetchWebSocketClass {
  new (url: string | URL, protocols?: string | string[]): FetchWebSocket;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
}

/**
 * A WebSocket class (the shape partysocket and most clients expect) that opens its connection with
 * `fetcher.fetch(url, { headers: { Upgrade: "websocket" } })`. Inside vitest-pool-workers a test
 * can't dial its own worker by URL, but it can fetch it: this lets `genparty/client` (or any
 * partysocket client) run against the real worker, over real sockets, in a spec.
 *
 * @example
 * import { exports } from "cloudflare:workers";
 * const counter = connect<typeof Counter>({ host: "spec", party: "counter", room: "r", WebSocket: fetchWebSocket(exports.default) });
 */
export function fetchWebSocket(fetcher: { fetch(input: string, init?: RequestInit): Promise<Response> }): FetchWebSocketClass {
  return class FetchWebSocket extends EventTarget {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readonly CLOSING = 2;
    readonly CLOSED = 3;
    readonly url: string;
    readyState = 0;
    binaryType: "arraybuffer" | "blob" = "blob";
    protocol = "";
    readonly extensions = "";
    readonly bufferedAmount = 0;
    #socket: WebSocket | undefined;
    /** Events in arrival order: a Blob read as an ArrayBuffer (`binaryType`) takes a moment, and later frames and the close wait for it. */
    #delivered: Promise<void> = Promise.resolve();

    constructor(url: string | URL, protocols?: string | string[]) {
      super();
      this.url = String(url);
      void this.#open(protocols);
    }

    send(data: string | ArrayBuffer | ArrayBufferView): void {
      if (this.readyState !== 1 || !this.#socket) throw new Error("WebSocket is not open");
      this.#socket.send(data);
    }

    close(code = 1000, reason?: string): void {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      if (this.#socket) this.#socket.close(code, reason);
      else this.#closed(code, reason ?? "", false);
    }

    async #open(protocols?: string | string[]): Promise<void> {
      const offered = protocols === undefined ? [] : [protocols].flat();
      try {
        const response = await fetcher.fetch(this.url.replace(/^ws/, "http"), {
          headers: { Upgrade: "websocket", ...(offered.length > 0 ? { "Sec-WebSocket-Protocol": offered.join(", ") } : {}) },
        });
        const socket = response.webSocket;
        if (!socket) throw new Error(`upgrade refused: ${response.status}`);
        socket.accept();
        if (this.readyState >= 2) return socket.close(1000, "closed before open");
        this.#socket = socket;
        this.protocol = response.headers.get("sec-websocket-protocol") ?? "";
        socket.addEventListener("message", (event) => this.#deliver(event.data as string | ArrayBuffer | Blob));
        socket.addEventListener("close", (event) => this.#inOrder(() => this.#closed(event.code, event.reason, event.wasClean)));
        socket.addEventListener("error", () => this.dispatchEvent(new Event("error")));
        this.readyState = 1;
      } catch {
        this.dispatchEvent(new Event("error"));
        this.#closed(1006, "", false);
        return;
      }
      // Outside the try: a listener that throws is the listener's bug, not a failed connection. It
      // is reported as uncaught, as an EventTarget does, as the other events' listeners are.
      try {
        this.dispatchEvent(new Event("open"));
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }

    /** Hands a frame over as the socket's `binaryType` asks, as a browser's WebSocket does. */
    #deliver(data: string | ArrayBuffer | Blob): void {
      this.#inOrder(async () => {
        let as: string | ArrayBuffer | Blob = data;
        if (data instanceof Blob && this.binaryType === "arraybuffer") as = await data.arrayBuffer();
        else if (data instanceof ArrayBuffer && this.binaryType === "blob") as = new Blob([data]);
        // workerd's MessageEvent carries a Blob as well as a browser's does; its type says string | ArrayBuffer.
        this.dispatchEvent(new MessageEvent("message", { data: as as string | ArrayBuffer }));
      });
    }

    #inOrder(event: () => void | Promise<void>): void {
      this.#delivered = this.#delivered.then(event).catch((error: unknown) => {
        // A listener's throw is reported as uncaught, as an EventTarget does, and the next event still comes.
        queueMicrotask(() => {
          throw error;
        });
      });
    }

    #closed(code: number, reason: string, wasClean: boolean): void {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
    }
  };
}
