// Parasol wire protocol v1 in TypeScript: frames, codec, errors, limits,
// close codes and the authentication transcript. No I/O.

export * from "./auth";
export * from "./circle";
export * from "./close";
export * from "./codec";
export * from "./error";
export * from "./escalation";
export * from "./frame";
export * from "./intake";
export * from "./limits";
export * from "./badge";
