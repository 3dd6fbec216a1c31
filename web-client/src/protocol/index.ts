// Parasol wire protocol v1 in TypeScript: frames, codec, errors, limits,
// close codes and the authentication transcript. No I/O. The types and the
// codec tables are generated from protocol/src (generated/).

export * from "./auth";
export * from "./circle";
export * from "./close";
export * from "./codec";
export * from "./error";
export * from "./escalation";
export * from "./generated/constants";
export * from "./generated/types";
export * from "./intake";
export * from "./badge";
