// MLS for the browser client: identity, ciphersuite, and the client that
// applies Parasol's MLS rules over ts-mls.

export * from "./client";
export * from "./identity";
export * from "./suite";
