// Hex helpers for tests (the shared vectors write bytes as hex).

export { fromHex, hex as toHex } from "../util/hex";
