export { corsHeaders } from "./cors.js";
export { checkRoomName, getServerByName, InvalidNameError, type ServerByNameOptions } from "./names.js";
export { type Lobby, type PartyServerOptions, routePartykitRequest, toKebab } from "./route.js";
export { DEFAULT_ROUTING_RETRY, isRetryable, type RoutingRetryEvent, type RoutingRetryOptions } from "./retry.js";
