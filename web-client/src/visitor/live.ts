// What the visitor's page loads after its first screen (main.tsx): the
// chat code, with MLS and the protocol, and the socket to the server.

import { serverUrl } from "../net/connection";

export { VisitorIntake } from "./intake";

export const openSocket = (): WebSocket => new WebSocket(serverUrl(location));
