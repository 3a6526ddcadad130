// index.ts

// The seed README's example (partyserver's README, "Usage"), kept as written except:
// - the import: in a real app it is `import { Server } from "genparty";`
// - the types and `override`s this repo's strict tsconfig (noImplicitAny, noImplicitOverride) asks for
// - the `await` the README forgot: Server.partyFetch returns a promise, which is never falsy, so
//   without it an unmatched path answers 500 ("the Promise did not resolve to 'Response'"), not 404.
import { type Connection, Server, type WSMessage } from "../../lib/index.js";

// Define your Servers
export class MyServer extends Server {
  override onConnect(connection: Connection) {
    console.log("Connected", connection.id, "to server", this.name);
  }

  override onMessage(connection: Connection, message: WSMessage) {
    console.log("Message from", connection.id, ":", message);
    // Send the message to every other connection
    this.broadcast(message, [connection.id]);
  }
}

export default {
  // Set up your fetch handler to use configured Servers
  async fetch(request: Request, env: Cloudflare.Env) {
    return (
      (await Server.partyFetch(request, env)) ||
      new Response("Not Found", { status: 404 })
    );
  }
};
