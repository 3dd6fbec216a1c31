// Frame types of protocol version 1, mirroring protocol/src/frame.rs.
//
// Field and variant names are the wire names, so a decoded frame is exactly
// the MessagePack map it came from (the shared vectors compare them that
// way). Byte strings are Uint8Array. Integers are numbers: the protocol keeps
// them below 2^53.

import type { ErrorCode } from "./error";

export type Bytes = Uint8Array;

/** The protocol version this client speaks, carried in every frame as `v`. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket path of protocol version 1. */
export const WEBSOCKET_PATH = "/v1/ws";

/** A request. `id` is chosen by the client and echoed in its answer. */
export interface ClientFrame {
  v: number;
  id: number;
  req: Request;
}

/** The operations of protocol version 1. */
export type Request =
  /** Prove possession of the identity key; must be the first request. */
  | { op: "authenticate"; proof: AuthProof }
  /**
   * Upload key packages (MLSMessage(KeyPackage)). With `replace`, every
   * package stored before is withdrawn first. Absent means false.
   */
  | { op: "publish_key_packages"; key_packages: Bytes[]; replace?: boolean }
  /** Take one key package of another client, to add it to a group. */
  | { op: "claim_key_package"; client_id: Bytes }
  /** Start tracking a new group from its creator's GroupInfo and tree. */
  | { op: "create_group"; group_info: Bytes; ratchet_tree: Bytes }
  /** A commit for the current epoch, with the Welcome for added members. */
  | { op: "send_commit"; commit: Bytes; welcome?: Bytes; group_info?: Bytes; ratchet_tree?: Bytes }
  /** An MLS application message (PrivateMessage). */
  | { op: "send_message"; message: Bytes }
  /** Push every envelope above `after`: the backlog, then new ones. */
  | { op: "subscribe"; after: number }
  /** Read up to `limit` envelopes above `after` without subscribing. */
  | { op: "fetch_backlog"; after: number; limit: number }
  /** Everything up to and including `up_to` is processed; delete it. */
  | { op: "ack"; up_to: number }
  /** The groups I am a member of. */
  | { op: "list_groups" }
  /** Keep-alive; answered with `pong`. */
  | { op: "ping" };

export type Operation = Request["op"];

/** Every operation name of version 1, in the order of frame.rs. */
export const OPERATIONS: readonly Operation[] = [
  "authenticate",
  "publish_key_packages",
  "claim_key_package",
  "create_group",
  "send_commit",
  "send_message",
  "subscribe",
  "fetch_backlog",
  "ack",
  "list_groups",
  "ping",
];

/** How a client proves who it is. Staff sessions will be a second method. */
export type AuthProof = {
  method: "ed25519_challenge";
  /** The client id: its 32-byte Ed25519 public key. */
  public_key: Bytes;
  /** Signature of `auth.authTranscript(nonce, public_key)`. */
  signature: Bytes;
};

/** A frame from the server. */
export interface ServerFrame {
  v: number;
  msg: ServerMessage;
}

export type ServerMessage =
  /** Sent once, right after the WebSocket opens. */
  | { type: "challenge"; nonce: Bytes; versions: number[] }
  /** The successful answer to request `id`. */
  | { type: "response"; id: number; result: Response }
  /**
   * The failed answer to request `id`, or (without `id`) to a frame whose id
   * could not be read. `current_epoch` comes with `stale_epoch`.
   */
  | { type: "error"; id?: number; code: ErrorCode; message: string; current_epoch?: number }
  /** A pushed envelope from my mailbox (after `subscribe`). */
  | { type: "envelope"; envelope: Envelope }
  /** My key-package stock changed because someone claimed one. */
  | { type: "key_package_count"; one_time: number; last_resort: boolean };

export type ServerMessageType = ServerMessage["type"];

/** Successful results, tagged by `kind`. */
export type Response =
  | {
      kind: "authenticated";
      /** My identity as the server knows it (my public key). */
      client_id: Bytes;
      /** The highest sequence number ever assigned in my mailbox. */
      mailbox_head: number;
      one_time_key_packages: number;
      last_resort_key_package: boolean;
    }
  | { kind: "key_packages_published"; one_time: number; last_resort: boolean }
  | { kind: "key_package"; key_package: Bytes; last_resort: boolean }
  | { kind: "group_created"; group_id: Bytes; epoch: number }
  /** The commit won its epoch and is durable: merge it now. */
  | { kind: "commit_accepted"; group_id: Bytes; epoch: number }
  /** The message is durable and queued for every member. */
  | { kind: "message_accepted"; group_id: Bytes; epoch: number }
  | { kind: "subscribed"; head: number }
  | { kind: "backlog"; envelopes: Envelope[]; more: boolean }
  | { kind: "acked"; up_to: number }
  | { kind: "groups"; groups: GroupSummary[] }
  | { kind: "pong" };

export type ResponseKind = Response["kind"];

/** What the server says about a group I am in. */
export interface GroupSummary {
  group_id: Bytes;
  epoch: number;
  members: number;
}

export type EnvelopeKind = "commit" | "application" | "welcome";

/** One entry of my mailbox. */
export interface Envelope {
  /** Position in my mailbox: 1, 2, 3, … without gaps. */
  seq: number;
  group_id: Bytes;
  kind: EnvelopeKind;
  /** For commits and application messages the epoch they were sent in; for a Welcome the epoch it joins. */
  epoch: number;
  /** The TLS-serialized MLSMessage, exactly as its sender sent it. */
  message: Bytes;
  /** With a Welcome: the group's ratchet tree after the commit. */
  ratchet_tree?: Bytes;
  /** When the server accepted it, in whole seconds since the Unix epoch. */
  received_at: number;
}
