// Typing indicators, inside MLS as ephemeral application messages: an
// encrypted signal like any message (the server cannot tell it from text),
// but one that clients never show as a message and never keep in history.
//
// A signal is 3 bytes that start with 0xFF, which never occurs in UTF-8:
// clients that only know text drop it as undecodable instead of showing it.

const MARK = 0xff;
const KIND = 0x54; // "T"

export const TYPING_START = new Uint8Array([MARK, KIND, 1]);
export const TYPING_STOP = new Uint8Array([MARK, KIND, 0]);

/** A resend of "typing" at most this often while she keeps typing. */
export const TYPING_RESEND_MS = 3000;
/** "Typing" ends by itself this long after the last input or signal. */
export const TYPING_IDLE_MS = 6000;

/** Whether a decrypted plaintext is a typing signal, and which. */
export function typingSignal(plaintext: Uint8Array): "start" | "stop" | undefined {
  if (plaintext.length !== 3 || plaintext[0] !== MARK || plaintext[1] !== KIND) return undefined;
  if (plaintext[2] === 1) return "start";
  if (plaintext[2] === 0) return "stop";
  return undefined;
}

type Handle = ReturnType<typeof setTimeout>;
interface Timers {
  set: (f: () => void, ms: number) => Handle;
  clear: (h: Handle) => void;
}

/**
 * The sending side: call `input()` on every keystroke and `sent()` when the
 * message goes; `send` gets the signals to encrypt, throttled so a fast
 * typist sends one "start" every few seconds, and one "stop" when she
 * pauses.
 */
export class TypingSender {
  private lastStart = -Infinity;
  private typing = false;
  private idle: Handle | undefined;

  constructor(
    private readonly send: (signal: Uint8Array) => void,
    private readonly now: () => number = Date.now,
    // Wrapped: a browser's setTimeout called as a method of another object
    // throws "Illegal invocation".
    private readonly timers: Timers = { set: (f, ms) => setTimeout(f, ms), clear: (h) => clearTimeout(h) },
  ) {}

  input(): void {
    const now = this.now();
    if (!this.typing || now - this.lastStart >= TYPING_RESEND_MS) {
      this.send(TYPING_START);
      this.lastStart = now;
      this.typing = true;
    }
    if (this.idle !== undefined) this.timers.clear(this.idle);
    this.idle = this.timers.set(() => this.stop(), TYPING_IDLE_MS / 2);
  }

  /** The message was sent: she is no longer typing (the message says so itself). */
  sent(): void {
    if (this.idle !== undefined) this.timers.clear(this.idle);
    this.idle = undefined;
    this.typing = false;
  }

  private stop(): void {
    this.idle = undefined;
    if (!this.typing) return;
    this.typing = false;
    this.send(TYPING_STOP);
  }
}

/** The receiving side: who is typing now, given the signals and messages seen. */
export class TypingWatch {
  private until = 0;

  constructor(private readonly now: () => number = Date.now) {}

  signal(kind: "start" | "stop"): void {
    this.until = kind === "start" ? this.now() + TYPING_IDLE_MS : 0;
  }

  /** A real message from the same sender ends "typing". */
  message(): void {
    this.until = 0;
  }

  get typing(): boolean {
    return this.now() < this.until;
  }
}
