// One WebSocket to the server: answers the challenge, matches answers to
// requests by id, and hands pushes to a listener. Frames only, no MLS and no
// screens: the visitor and console flows sit on top of it.

import {
  type AuthProof,
  type ClientFrame,
  type ErrorCode,
  type Request,
  type Response,
  type ServerMessage,
  CLOSE,
  PROTOCOL_VERSION,
  WEBSOCKET_PATH,
  decodeServerFrame,
  encodeClientFrame,
} from "../protocol";

/** The part of the browser's WebSocket this module uses (a fake in tests). */
export interface SocketLike {
  binaryType: BinaryType;
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number): void;
}

/** A refusal from the server, with everything the error frame carried. */
export class ServerError extends Error {
  override readonly name = "ServerError";
  constructor(readonly frame: Extract<ServerMessage, { type: "error" }>) {
    super(`${frame.code}: ${frame.message}`);
  }
  get code(): ErrorCode {
    return this.frame.code;
  }
}

/** The socket closed (or never opened); `code` is the WebSocket close code. */
export class ConnectionClosed extends Error {
  override readonly name = "ConnectionClosed";
  constructor(readonly code: number) {
    super(`connection closed (${code})`);
  }
}

export type Push = Exclude<ServerMessage, { type: "response" } | { type: "error"; id: number } | { type: "challenge" }>;

interface Waiting {
  resolve(r: Response): void;
  reject(e: Error): void;
}

/** The same-origin WebSocket URL of the protocol. */
export function serverUrl(location: Pick<Location, "protocol" | "host">): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${WEBSOCKET_PATH}`;
}

export class Connection {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closedWith: number | undefined;

  private constructor(
    private readonly socket: SocketLike,
    private readonly onPush: (push: Push) => void,
    private readonly onClose: (code: number) => void,
  ) {}

  /**
   * Open a socket and authenticate with `prove(nonce)`. Resolves once the
   * server has answered `authenticated`.
   */
  static open(
    socket: SocketLike,
    prove: (nonce: Uint8Array) => AuthProof,
    handlers: { onPush: (push: Push) => void; onClose: (code: number) => void },
  ): Promise<{ connection: Connection; authenticated: Extract<Response, { kind: "authenticated" }> }> {
    const connection = new Connection(socket, handlers.onPush, handlers.onClose);
    socket.binaryType = "arraybuffer";
    return new Promise((resolve, reject) => {
      let challenged = false;
      socket.onmessage = (event) => {
        const decoded = decodeServerFrame(new Uint8Array(event.data as ArrayBuffer));
        if (!decoded.ok) return; // a frame we cannot read is dropped, never fatal
        const msg = decoded.frame.msg;
        if (msg.type === "challenge" && !challenged) {
          challenged = true;
          if (!msg.versions.includes(PROTOCOL_VERSION)) {
            reject(new Error("the server does not speak protocol version 1"));
            socket.close(CLOSE.NORMAL);
            return;
          }
          connection
            .request({ op: "authenticate", proof: prove(msg.nonce) })
            .then((r) => {
              if (r.kind !== "authenticated") throw new Error(`unexpected answer ${r.kind}`);
              resolve({ connection, authenticated: r });
            })
            .catch(reject);
          return;
        }
        connection.dispatch(msg);
      };
      socket.onclose = (event) => {
        connection.closed(event.code);
        reject(new ConnectionClosed(event.code));
      };
      socket.onerror = () => {};
    });
  }

  /** Send a request; resolves with its result or rejects with ServerError / ConnectionClosed. */
  request(req: Request): Promise<Response> {
    if (this.closedWith !== undefined) return Promise.reject(new ConnectionClosed(this.closedWith));
    const id = this.nextId++;
    const frame: ClientFrame = { v: PROTOCOL_VERSION, id, req };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try {
        this.socket.send(encodeClientFrame(frame));
      } catch (e) {
        this.waiting.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  close(): void {
    this.socket.close(CLOSE.NORMAL);
  }

  private dispatch(msg: ServerMessage): void {
    if (msg.type === "response") {
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      w?.resolve(msg.result);
    } else if (msg.type === "error" && msg.id !== undefined && this.waiting.has(msg.id)) {
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      w?.reject(new ServerError(msg));
    } else if (msg.type !== "challenge") {
      this.onPush(msg as Push);
    }
  }

  private closed(code: number): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = code;
    for (const w of this.waiting.values()) w.reject(new ConnectionClosed(code));
    this.waiting.clear();
    this.onClose(code);
  }
}
