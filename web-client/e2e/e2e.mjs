// End-to-end test of the web client against the real server binary, in
// Debian's Chromium driven by playwright-core. It starts parasol-server on
// 127.0.0.1 with a temporary data directory and the built dist/, creates
// two counsellors with the admin CLI, and runs, each in its own browser
// context:
//
//   visitor intake → counsellor accepts → encrypted messages both ways →
//   transfer to the second counsellor (the visitor's page adds them after
//   checking the badge) → messages with the new counsellor → close;
//   SOS numbers; quick exit leaves no storage and a neutral page; no
//   request to another origin (from every context's network log);
//   a Rust CLI client and the browser console in one MLS group exchange
//   messages (interop); escalation to the crisis line: the visitor's SOS
//   alerts the counsellor, who escalates; an on-duty crisis responder
//   accepts, is added by the counsellor's console, talks with the visitor,
//   and keeps the chat when the counsellor hands it off; typing indicators
//   both ways (never lines); the counsellor sees her visitor drop, come
//   back and quick-exit; a supervisor rescues a stranded chat from the
//   board and the visitor is told; off hours with nobody able to read,
//   the visitor is told the message could not be delivered; a team message
//   left at night survives a server restart and a counsellor who was
//   offline reads it on a new browser; a circle's moderator reloads and
//   still lets people in, mutes and removes members; a console whose
//   session died while the server was down goes back to the login.
//
// It measures the time from the visitor's page load to the counsellor
// receiving the first message, writes it with the screenshots to
// test-artifacts/, and prints "e2e: N passed, M failed".

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createWriteStream, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createHmac } from "node:crypto";

import { chromium } from "playwright-core";

import { consoleChecks } from "./console.mjs";
import { visitorChecks } from "./visitor.mjs";

const run = promisify(execFile);
const WEB = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("../test-artifacts/", import.meta.url));
const TARGET = process.env.CARGO_TARGET_DIR ?? join(WEB, "..", "target");
const SERVER_BIN = process.env.PARASOL_SERVER_BIN ?? join(TARGET, "debug", "parasol-server");
const CLI_BIN = process.env.PARASOL_CLI_BIN ?? join(TARGET, "debug", "parasol");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const EXIT_URL = process.env.VITE_EXIT_URL ?? "https://www.google.com/";
const STEP_MS = 30_000;

const results = [];
const measurements = {};

/** E2E_ONLY=<regex> runs only the checks whose names match (the others are skipped, not passed). */
const ONLY = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : undefined;

async function check(name, fn) {
  if (ONLY !== undefined && !ONLY.test(name)) return;
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    for (const [who, ctx] of Object.entries({ visitor, ana, besa, rina })) {
      await ctx?.page.screenshot({ path: join(ARTIFACTS, `e2e-failed-${results.length}-${who}.png`), fullPage: true }).catch(() => {});
    }
    console.log(`  FAIL  ${name}\n        ${String(error?.stack ?? error).split("\n").slice(0, 8).join("\n        ")}`);
  }
}

for (const bin of [SERVER_BIN, CLI_BIN]) {
  if (!existsSync(bin)) {
    console.log(`e2e: ${bin} is missing (build it with cargo build -p parasol-server -p parasol-client)`);
    console.log("e2e: 0 passed, 1 failed");
    process.exit(1);
  }
}

await mkdir(ARTIFACTS, { recursive: true });
const root = await mkdtemp(join(tmpdir(), "parasol-e2e-"));
let servers = 0;

/** Start parasol-server on a free loopback port with its own data directory. */
async function startServer(extraConfig = "") {
  const n = ++servers;
  const config = join(root, `parasol-${n}.toml`);
  await writeFile(
    config,
    // Metrics on a free port too: several servers run at once here.
    `listen = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\ndata_dir = "${join(root, `data-${n}`)}"\nweb_root = "${join(WEB, "dist")}"\n${extraConfig}`,
  );
  return spawnServer(config, `${n}`);
}

/**
 * Run parasol-server with `config`. `restart()` stops it and runs it again on
 * the same data directory (on a new free port, so a new origin).
 */
async function spawnServer(config, label) {
  const log = createWriteStream(join(ARTIFACTS, `e2e-server-${label}.log`));
  const child = spawn(SERVER_BIN, ["--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PARASOL_LOG: "info" },
  });
  child.stderr.pipe(log);
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not start in 30 s")), 30_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = line.match(/listening on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    });
    child.on("exit", (code) => reject(new Error(`the server exited (${code})`)));
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  const restart = async () => {
    await stop();
    return spawnServer(config, `${label}r`);
  };
  /** The same, on the same port: open pages keep their origin and reconnect. */
  const restartOnSamePort = async () => {
    await stop();
    const samePort = `${config.replace(/\.toml$/, "")}-same-port.toml`;
    const text = await readFile(config, "utf8");
    await writeFile(samePort, text.replace(/^listen = .*$/m, `listen = "${new URL(origin).host}"`));
    return spawnServer(samePort, `${label}s`);
  };
  return { origin, config, stop, restart, restartOnSamePort };
}

const main = await startServer();
const ORIGIN = main.origin;
const WS_ORIGIN = ORIGIN.replace("http:", "ws:");

async function admin(args, stdin, config = main.config) {
  const child = spawn(SERVER_BIN, ["admin", "--config", config, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(stdin);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise((r) => child.on("exit", r));
  assert.equal(code, 0, `admin ${args[0]} failed`);
  return out;
}

async function createStaff(username, displayName, role, config = main.config) {
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  await admin(
    ["create-staff", "--username", username, "--display-name", displayName, "--role", role, "--languages", "mk,sq,en", "--max-chats", "4", "--password-stdin"],
    `${password}\n`,
    config,
  );
  return { username, password, displayName };
}

/** The current code of an otpauth:// URI (RFC 6238), as an authenticator app shows it. */
function totpNow(uri) {
  const url = new URL(uri);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of url.searchParams.get("secret").replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const period = Number(url.searchParams.get("period") ?? 30);
  const digits = Number(url.searchParams.get("digits") ?? 6);
  const algorithm = (url.searchParams.get("algorithm") ?? "SHA1").toLowerCase();
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / period)));
  const mac = createHmac(algorithm, key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(n).padStart(digits, "0");
}

const today = () => new Date().toISOString().slice(0, 10);
const cli = (args) => run(CLI_BIN, ["--server", `${WS_ORIGIN}/v1/ws`, "--state", join(root, "cli.state"), ...args], { timeout: STEP_MS });

// --- browsers ---------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/** A context that records every request and socket, and refuses other origins (except the stubbed exit site). */
async function newContext(viewport, ORIGIN = main.origin, { proxySockets = false, contextOptions = {} } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: "en-GB", ...contextOptions });
  const log = { requests: [], sockets: [], problems: [], routes: [] };
  if (proxySockets) {
    // Sockets pass through the test, which can then cut them like a network drop.
    await context.routeWebSocket(/\/v1\/ws$/, (route) => {
      const server = route.connectToServer();
      log.routes.push({ route, server });
    });
  }
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    log.requests.push(url);
    if (url.startsWith(ORIGIN)) return route.continue();
    if (url === EXIT_URL) {
      return route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>Search</title><p>search</p>" });
    }
    return route.abort();
  });
  context.on("page", (page) => {
    page.on("websocket", (ws) => log.sockets.push(ws.url()));
    page.on("pageerror", (e) => log.problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") log.problems.push(`console error: ${m.text()}`);
    });
  });
  return { context, log, page: await context.newPage() };
}

/** A visitor opens a circle invitation: the link (which holds no code), then types the code she was given. */
async function openInvitation(page, link, code) {
  await page.goto(link);
  await page.getByLabel("Invitation code").fill(code);
  await page.getByRole("button", { name: "Open the invitation" }).click();
}

async function consoleLogin(page, staff, origin = ORIGIN) {
  await page.goto(`${origin}/console.html`);
  await page.getByLabel("Username").fill(staff.username);
  await page.getByLabel("Password").fill(staff.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("group", { name: "Shift state" }).waitFor({ timeout: STEP_MS });
}

/** Form controls and buttons without an accessible name (screen readers would say nothing useful). */
const unlabelled = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("input, textarea, select, button")]
      .filter((el) => {
        if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")) return false;
        if (el.tagName === "BUTTON") return el.textContent.trim() === "";
        return el.labels === null || el.labels.length === 0;
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );

const line = (page, selector, text) => page.locator(`${selector}`, { hasText: text }).first().waitFor({ timeout: STEP_MS });
const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

let visitor;
let ana;
let besa;
let rina;
try {
  const anaAccount = await createStaff("ana", "Ana", "counsellor");
  const besaAccount = await createStaff("besa", "Besa", "supervisor");
  visitor = await newContext({ width: 360, height: 740 }, main.origin, { proxySockets: true });
  ana = await newContext({ width: 1200, height: 800 }, main.origin, { proxySockets: true });
  besa = await newContext({ width: 1200, height: 800 });

  await check("a counsellor with TOTP needs the code to log in", async () => {
    const dita = await createStaff("dita", "Dita", "counsellor");
    const uri = (await admin(["enable-totp", "dita"], "")).split("\n").find((l) => l.startsWith("otpauth://"));
    const ctx = await newContext({ width: 1200, height: 800 });
    await ctx.page.goto(`${ORIGIN}/console.html`);
    await ctx.page.getByLabel("Username").fill(dita.username);
    await ctx.page.getByLabel("Password").fill(dita.password);
    await ctx.page.getByRole("button", { name: "Log in" }).click();
    await ctx.page.getByRole("alert").filter({ hasText: "Wrong username, password or code." }).waitFor({ timeout: STEP_MS });
    await ctx.page.getByLabel("Password").fill(dita.password);
    await ctx.page.getByLabel(/authenticator app/).fill(totpNow(uri));
    await ctx.page.getByRole("button", { name: "Log in" }).click();
    await ctx.page.getByRole("group", { name: "Shift state" }).waitFor({ timeout: STEP_MS });
    await ctx.page.getByRole("button", { name: "Log out" }).click();
    await ctx.page.getByRole("heading", { name: "Counsellor console" }).waitFor({ timeout: STEP_MS });
    assert.deepEqual(await ctx.context.storageState(), { cookies: [], origins: [] }, "the console stores nothing");
    await ctx.context.close();
  });

  await check("two counsellors log in to the console; one is available, one on break", async () => {
    await consoleLogin(ana.page, anaAccount);
    await consoleLogin(besa.page, besaAccount);
    await ana.page.getByRole("button", { name: "Available" }).click();
    await besa.page.getByRole("button", { name: "On break" }).click();
    await ana.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor();
  });

  let loadStarted;
  await check("the visitor starts a chat in one tap and waits with a live position, typing meanwhile", async () => {
    loadStarted = Date.now();
    await visitor.page.goto(`${ORIGIN}/`);
    assert.equal(await visitor.page.title(), "Notes");
    await visitor.page.getByRole("button", { name: "English" }).click();
    await visitor.page.getByRole("button", { name: "I understand, continue" }).click();
    await visitor.page.getByRole("radio", { name: "Health and HIV" }).check();
    await visitor.page.getByRole("button", { name: "Start the chat" }).click();
    await visitor.page.getByRole("heading", { name: "Waiting for a counsellor" }).waitFor({ timeout: STEP_MS });
    await visitor.page.getByLabel("Write a message").fill("Hello, I wrote this while waiting");
    await visitor.page.getByRole("button", { name: "Send" }).click();
    await line(visitor.page, ".line.mine", "Hello, I wrote this while waiting");
    await line(visitor.page, ".line.mine .delivery", "Waiting to be sent");
  });

  await check("the counsellor gets the offer (title and list) and the queue shows no content", async () => {
    await ana.page.locator(".offer").first().waitFor({ timeout: STEP_MS });
    // The tab is in front: the offer shows in the list (and as a notification), not as a title counter.
    assert.doesNotMatch(await ana.page.title(), /^\(\d+\)/);
    assert.match(await ana.page.locator(".offer").first().textContent(), /Health and HIV · English/);
    await visitor.page.locator(".queue .position").waitFor();
    await shot(visitor.page, "e2e-visitor-waiting-room.png");
  });

  await check("accept → the first message arrives decrypted at the counsellor; the visitor sees a verified counsellor", async () => {
    await ana.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click();
    await line(ana.page, ".line.theirs", "Hello, I wrote this while waiting");
    measurements.pageLoadToFirstMessageMs = Date.now() - loadStarted;
    await visitor.page.locator(".badge.verified", { hasText: "Verified counsellor" }).waitFor({ timeout: STEP_MS });
    assert.equal(await visitor.page.getByRole("heading", { level: 1 }).textContent(), "Ana");
    await line(visitor.page, ".line.mine .delivery", "Sent");
  });

  await check("messages flow both ways, encrypted in the pages", async () => {
    await ana.page.getByRole("textbox", { name: "Message" }).fill("Hi, I'm Ana. I'm here to listen.");
    await ana.page.getByRole("button", { name: "Send" }).click();
    await line(visitor.page, ".line.theirs", "Hi, I'm Ana. I'm here to listen.");
    assert.match(await visitor.page.locator(".line.theirs").first().textContent(), /Ana.*Verified counsellor/);
    await visitor.page.getByLabel("Write a message").fill("Thank you. Can I ask about testing?");
    await visitor.page.keyboard.press("Enter");
    await line(ana.page, ".line.theirs", "Thank you. Can I ask about testing?");
    const width = await visitor.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `the chat is ${width} px wide at 360`);
    assert.deepEqual(await unlabelled(visitor.page), []);
    assert.deepEqual(await unlabelled(ana.page), []);
    await shot(visitor.page, "e2e-visitor-chat.png");
    await shot(ana.page, "e2e-counsellor-console.png");
  });

  await check("typing shows both ways (inside MLS) and never becomes a message", async () => {
    const lines = async () => [await visitor.page.locator(".line").count(), await ana.page.locator(".line").count()];
    const before = await lines();
    await visitor.page.getByLabel("Write a message").fill("I am still wri");
    await ana.page.locator(".typing", { hasText: "The visitor is typing" }).waitFor({ timeout: STEP_MS });
    await ana.page.getByRole("textbox", { name: "Message" }).fill("Take your ti");
    await visitor.page.locator(".typing", { hasText: "The counsellor is writing" }).waitFor({ timeout: STEP_MS });
    // A pause ends it by itself, on both sides.
    await ana.page.locator(".typing").waitFor({ state: "detached", timeout: STEP_MS });
    await visitor.page.locator(".typing").waitFor({ state: "detached", timeout: STEP_MS });
    assert.deepEqual(await lines(), before, "typing signals are never lines");
    await visitor.page.getByLabel("Write a message").fill("");
    await ana.page.getByRole("textbox", { name: "Message" }).fill("");
  });

  await check("a dropped connection comes back by itself with the same identity, and the chat goes on", async () => {
    const { route, server } = visitor.log.routes.at(-1);
    route.close({ code: 4000, reason: "network drop" });
    server.close({ code: 1000, reason: "network drop" });
    await visitor.page.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ timeout: STEP_MS });
    await visitor.page.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ state: "detached", timeout: STEP_MS });
    assert.equal(visitor.log.routes.length, 2, "one new socket");
    // The counsellor saw her drop and come back (presence, never where from).
    await line(ana.page, ".line.system", "The visitor's connection dropped");
    await line(ana.page, ".line.system", "The visitor is connected again.");
    // The counsellor's console too.
    const staffSocket = ana.log.routes.at(-1);
    staffSocket.route.close({ code: 4000, reason: "network drop" });
    staffSocket.server.close({ code: 1000, reason: "network drop" });
    await ana.page.locator(".offline").waitFor({ timeout: STEP_MS });
    await ana.page.locator(".offline").waitFor({ state: "detached", timeout: STEP_MS });
    await ana.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor();
    await visitor.page.getByLabel("Write a message").fill("Still here after the drop");
    await visitor.page.keyboard.press("Enter");
    await line(ana.page, ".line.theirs", "Still here after the drop");
    await ana.page.getByRole("textbox", { name: "Message" }).fill("Me too.");
    await ana.page.getByRole("button", { name: "Send" }).click();
    await line(visitor.page, ".line.theirs", "Me too.");
  });

  await check("SOS shows the numbers during the chat, and the chat and a half-written message are still there after", async () => {
    await visitor.page.getByLabel("Write a message").fill("half a thought");
    await visitor.page.getByRole("button", { name: "I'm in danger now" }).click();
    const dialog = visitor.page.getByRole("dialog", { name: "If you are in danger now" });
    const links = await dialog.locator("a.call").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    assert.deepEqual(links, ["tel:112", "tel:192", "tel:194", "tel:080011111"]);
    await dialog.getByRole("button", { name: "Back" }).click();
    await line(visitor.page, ".line.theirs", "Hi, I'm Ana. I'm here to listen.");
    assert.equal(await visitor.page.getByLabel("Write a message").inputValue(), "half a thought");
    await visitor.page.getByLabel("Write a message").fill("");
  });

  await check("transfer with a note: the visitor's page adds the new counsellor after the badge check, who removes the old", async () => {
    await besa.page.getByRole("button", { name: "Available" }).click();
    await besa.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor();
    await ana.page.getByRole("button", { name: "Transfer" }).click();
    await ana.page.getByLabel(/Hand-over note/).fill("Asked about HIV testing; calm, not in danger.");
    await ana.page.getByRole("button", { name: "Transfer the chat" }).click();
    await line(visitor.page, ".line.system", "A colleague will continue the chat with you.");
    await line(visitor.page, ".line.system", "Besa has joined the chat.");
    await line(visitor.page, ".line.system", "The previous counsellor has left the chat.");
    await visitor.page.getByRole("heading", { level: 1, name: "Besa" }).waitFor({ timeout: STEP_MS });
    await visitor.page.locator(".badge.verified").waitFor();
    await line(ana.page, ".line.system", "You are no longer in this chat.");
    // The note, sealed to Besa in its own group, shows inside the chat it is about, named by the server's word.
    await besa.page.locator("button.conversation", { hasText: "health" }).click();
    await line(besa.page, ".line.system", "Hand-over note from Ana: Asked about HIV testing; calm, not in danger.");
    assert.equal(await besa.page.getByRole("button", { name: /Hand-over note or group/ }).count(), 0, "no separate note conversation");
    await line(ana.page, ".line.system", "Hand-over note sealed to Besa");
    await besa.page.locator(".back").evaluate((b) => b.click());
  });

  await check("the new counsellor and the visitor talk; unread counts show", async () => {
    const chatButton = besa.page.locator("button.conversation", { hasText: "health" });
    await visitor.page.getByLabel("Write a message").fill("Hello Besa");
    await visitor.page.keyboard.press("Enter");
    await chatButton.locator(".unread").waitFor({ timeout: STEP_MS });
    await chatButton.click();
    await line(besa.page, ".line.system", "previous counsellor was removed");
    await line(besa.page, ".line.theirs", "Hello Besa");
    await besa.page.getByRole("textbox", { name: "Message" }).fill("Hello, I'm Besa. Testing is free at our centre.");
    await besa.page.getByRole("button", { name: "Send" }).click();
    await line(visitor.page, ".line.theirs", "Hello, I'm Besa. Testing is free at our centre.");
    assert.match(await visitor.page.locator(".line.theirs").last().textContent(), /Besa.*Verified counsellor/);
    await shot(besa.page, "e2e-counsellor-console-after-transfer.png");
  });

  await check("the supervisor board shows staff and load", async () => {
    await besa.page.getByRole("button", { name: "Supervisor board" }).click();
    await besa.page.locator(".board td", { hasText: "Ana" }).waitFor({ timeout: STEP_MS });
    await shot(besa.page, "e2e-supervisor-board.png");
    await besa.page.getByRole("button", { name: "Supervisor board" }).click();
  });

  await check("close with a topic tag: the visitor sees the chat ended", async () => {
    await besa.page.locator("button.conversation", { hasText: "health" }).click();
    await besa.page.getByRole("button", { name: "Close", exact: true }).click();
    await besa.page.getByLabel("Topic tag").selectOption("information");
    await besa.page.getByRole("button", { name: "Close the chat" }).click();
    await visitor.page.getByRole("heading", { level: 1, name: "The chat has ended." }).waitFor({ timeout: STEP_MS });
    await shot(visitor.page, "e2e-visitor-ended.png");
    // The one-tap anonymous feedback question, counted by the server.
    await visitor.page.getByRole("group", { name: "Did this chat help you?" }).getByRole("button", { name: "Yes" }).click();
    await visitor.page.getByText("Thank you for your answer.").waitFor({ timeout: STEP_MS });
    const csv = await admin(["stats", "--from", today(), "--to", today()], "");
    const [header, row] = csv.trim().split("\n").map((l) => l.split(","));
    assert.equal(row[header.indexOf("feedback:helped")], "<5", csv);
  });

  await check("resume code: a visitor who left comes back with the written-down code and is re-added; then a clock-out hand-over picked from the queue", async () => {
    await besa.page.getByRole("button", { name: "On break" }).click();
    await besa.page.locator('button[aria-pressed="true"]', { hasText: "On break" }).waitFor();
    const first = await newContext({ width: 360, height: 740 });
    await first.page.goto(`${ORIGIN}/`);
    await first.page.getByRole("button", { name: "English" }).click();
    await first.page.getByRole("button", { name: "I understand, continue" }).click();
    await first.page.getByRole("button", { name: "Start the chat" }).click();
    await first.page.getByRole("heading", { name: "Waiting for a counsellor" }).waitFor({ timeout: STEP_MS });
    await first.page.getByRole("button", { name: "Let me come back to this chat" }).click();
    const code = (await first.page.locator(".resume .code").textContent()).trim();
    assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{1,4}){6}$/);
    await ana.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click();
    await first.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
    await first.page.getByLabel("Write a message").fill("Before I had to leave");
    await first.page.keyboard.press("Enter");
    await line(ana.page, ".line.theirs", "Before I had to leave");
    const storage = await first.context.storageState();
    assert.deepEqual(storage, { cookies: [], origins: [] }, "the code must not be stored anywhere");
    await first.context.close();

    const again = await newContext({ width: 360, height: 740 });
    await again.page.goto(`${ORIGIN}/`);
    await again.page.getByRole("button", { name: "English" }).click();
    await again.page.getByRole("button", { name: "I understand, continue" }).click();
    await again.page.getByRole("button", { name: "I have a code to come back to a chat" }).click();
    await again.page.getByLabel("Your code").fill(code.toLowerCase().replace(/-/g, " "));
    await again.page.getByRole("button", { name: "Continue the chat" }).click();
    await again.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
    await line(ana.page, ".line.system", "came back on a new device key");
    await again.page.getByLabel("Write a message").fill("I am back");
    await again.page.keyboard.press("Enter");
    await line(ana.page, ".line.theirs", "I am back");
    await ana.page.getByRole("textbox", { name: "Message" }).fill("Welcome back.");
    await ana.page.getByRole("button", { name: "Send" }).click();
    await line(again.page, ".line.theirs", "Welcome back.");
    await shot(again.page, "e2e-visitor-resumed.png");

    // Ana clocks out with the chat open: it goes back to the queue, and
    // Besa (on break) picks it from the queue; the visitor's page adds her.
    ana.page.once("dialog", (d) => d.accept());
    await ana.page.getByRole("button", { name: "Clocked out" }).click();
    await ana.page.locator('button[aria-pressed="true"]', { hasText: "Clocked out" }).waitFor({ timeout: STEP_MS });
    const row = besa.page.locator(".work-item.waiting", { hasText: "hand-over" });
    await row.waitFor({ timeout: STEP_MS });
    await row.getByRole("button", { name: "Take" }).click();
    await again.page.getByRole("heading", { level: 1, name: "Besa" }).waitFor({ timeout: STEP_MS });
    await line(again.page, ".line.system", "The previous counsellor has left the chat.");
    await line(besa.page, ".line.system", "previous counsellor was removed");
    await besa.page.getByRole("textbox", { name: "Message" }).fill("Hello again, it's Besa.");
    await besa.page.getByRole("button", { name: "Send" }).click();
    await line(again.page, ".line.theirs", "Hello again, it's Besa.");
    await besa.page.getByRole("button", { name: "Close", exact: true }).click();
    await besa.page.getByRole("button", { name: "Close the chat" }).click();
    await again.page.getByRole("heading", { level: 1, name: "The chat has ended." }).waitFor({ timeout: STEP_MS });
    await ana.page.getByRole("button", { name: "Available" }).click();
    await ana.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor();
    for (const ctx of [first, again]) {
      assert.deepEqual(ctx.log.requests.filter((u) => !u.startsWith(ORIGIN)), []);
      assert.deepEqual(ctx.log.problems, []);
    }
    await again.context.close();
  });

  await check("quick exit leaves a neutral page, no history entry and no storage", async () => {
    const entries = await visitor.page.evaluate(() => history.length);
    await visitor.page.keyboard.press("Escape");
    await visitor.page.keyboard.press("Escape");
    await visitor.page.waitForURL(EXIT_URL);
    assert.equal(await visitor.page.title(), "Search");
    assert.equal(await visitor.page.evaluate(() => history.length), entries);
    const state = await visitor.context.storageState();
    assert.deepEqual(state.cookies, []);
    assert.ok(state.origins.every((o) => o.localStorage.length === 0), JSON.stringify(state.origins));
    await visitor.page.goto(`${ORIGIN}/`);
    const left = await visitor.page.evaluate(async () => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
      databases: (await indexedDB.databases()).length,
      caches: (await caches.keys()).length,
    }));
    assert.deepEqual(left, { local: 0, session: 0, cookie: "", databases: 0, caches: 0 });
  });

  await check("interop: a Rust CLI client and the browser console in one MLS group exchange messages", async () => {
    const { stdout: id } = await cli(["init"]);
    const cliId = id.trim().split(/\s+/).pop();
    await cli(["publish", "--count", "2"]);
    await ana.page.getByRole("button", { name: "New peer group" }).click();
    const pane = ana.page.locator(".conversation-pane");
    await pane.getByRole("button", { name: "Invite / remove" }).click();
    await pane.getByLabel("Colleague's device key").fill(cliId);
    await pane.getByRole("button", { name: "Invite", exact: true }).click();
    await line(ana.page, ".line.system", "Invited");
    const group = await pane.getAttribute("data-group");
    await ana.page.getByRole("textbox", { name: "Message" }).fill("From the browser, to Rust");
    await ana.page.getByRole("button", { name: "Send" }).click();
    await line(ana.page, ".line.mine .delivery", "Sent");
    const { stdout: received } = await cli(["receive", "--wait", "3"]);
    const events = received.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(events.some((e) => e.event === "joined" && e.group === group), received);
    assert.ok(events.some((e) => e.event === "message" && e.text === "From the browser, to Rust"), received);
    await cli(["send", "--group", group, "From Rust, to the browser"]);
    await line(ana.page, ".line.theirs", "From Rust, to the browser");
    // Remove the CLI client from the peer group; it learns it.
    await pane.getByLabel("Colleague's device key").fill(cliId);
    await pane.getByRole("button", { name: "Remove", exact: true }).click();
    await line(ana.page, ".line.system", "Removed");
    const { stdout: after } = await cli(["receive", "--wait", "2"]);
    assert.match(after, /removed|membership/i, after);
    await pane.getByRole("button", { name: "Leave" }).click();
    await ana.page.locator("button.conversation", { hasText: "Peer group" }).waitFor({ state: "detached" });
  });

  await check("canned responses per language, and blocking a visitor ends the chat", async () => {
    const troll = await newContext({ width: 360, height: 740 });
    await troll.page.goto(`${ORIGIN}/`);
    await troll.page.getByRole("button", { name: "Shqip" }).click();
    await troll.page.getByRole("button", { name: "Kuptoj, vazhdo" }).click();
    await troll.page.getByRole("button", { name: "Fillo bisedën" }).click();
    await ana.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click();
    await troll.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
    const canned = ana.page.getByLabel(/Canned response \(Albanian\)/);
    const first = await canned.locator("option").nth(1).getAttribute("value");
    assert.match(first, /^Përshëndetje/);
    await canned.selectOption(first);
    await ana.page.getByRole("button", { name: "Send" }).click();
    await line(troll.page, ".line.theirs", first);
    await ana.page.getByRole("button", { name: "Block", exact: true }).click();
    await ana.page.getByLabel("Reason (audit log only)").fill("threats");
    await ana.page.getByRole("button", { name: "Block the visitor" }).click();
    await troll.page.getByRole("heading", { level: 1, name: "Biseda mbaroi." }).waitFor({ timeout: STEP_MS });
    assert.equal(await troll.page.getByRole("group", { name: /ndihmoi/ }).count(), 0, "no feedback question after a block");
    await line(ana.page, ".line.system", "blocked");
    await troll.context.close();
  });

  await check("escalation: SOS alerts the counsellor, who escalates; the responder accepts, is added, talks with the visitor, and keeps the chat after the hand-off", async () => {
    const rinaAccount = await createStaff("rina", "Rina", "crisis_responder");
    rina = await newContext({ width: 1200, height: 800 });
    await consoleLogin(rina.page, rinaAccount);
    const duty = rina.page.getByRole("group", { name: "Crisis duty" });
    await duty.getByRole("button", { name: "On duty" }).click();
    await duty.locator('button[aria-pressed="true"]', { hasText: "On duty" }).waitFor({ timeout: STEP_MS });
    await rina.page.getByText("No escalation is waiting.").waitFor();

    const v = await newContext({ width: 360, height: 740 });
    await v.page.goto(`${ORIGIN}/`);
    await v.page.getByRole("button", { name: "English" }).click();
    assert.match(await v.page.locator("body").textContent(), /sees only what you write after they join.*Nothing else is shared/);
    await v.page.getByRole("button", { name: "I understand, continue" }).click();
    await v.page.getByRole("radio", { name: "Trafficking or forced work" }).check();
    await v.page.getByRole("button", { name: "Start the chat" }).click();
    await ana.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click();
    await v.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });

    // SOS in the chat: the numbers at once, what escalation shares, and the counsellor is alerted.
    await v.page.getByRole("button", { name: "I'm in danger now" }).click();
    const dialog = v.page.getByRole("dialog", { name: "If you are in danger now" });
    assert.ok((await dialog.locator("a.call").count()) >= 4, "the numbers are there at once");
    await dialog.getByText("Nothing else is shared.").waitFor();
    await ana.page.locator(".sos-alert", { hasText: "consider escalating" }).waitFor({ timeout: STEP_MS });
    await ana.page.locator(".work-item.urgent", { hasText: "SOS" }).waitFor({ timeout: STEP_MS });
    await dialog.getByRole("button", { name: "Back" }).click();

    // The counsellor escalates; the responder sees it verified and accepts.
    await ana.page.getByRole("button", { name: "Escalate", exact: true }).click();
    await ana.page.getByLabel("Severity").selectOption("critical");
    await ana.page.getByLabel("Category").selectOption("trafficking");
    await ana.page.getByRole("button", { name: "Escalate to the crisis line" }).click();
    await ana.page.locator(".escalation-status", { hasText: "waiting for a crisis responder" }).waitFor({ timeout: STEP_MS });
    const queued = rina.page.locator(".escalations .escalation", { hasText: "Trafficking" });
    await queued.waitFor({ timeout: STEP_MS });
    assert.match(await queued.textContent(), /Critical.*from Ana.*signature verified/);
    // In front: the list says it; the title counts only while the tab is hidden.
    assert.doesNotMatch(await rina.page.title(), /^\(\d+\)/);
    await queued.getByRole("button", { name: "Accept" }).click();

    // The counsellor's console adds the responder; the visitor's page says so.
    await line(ana.page, ".line.system", "Rina (crisis responder) was added to the chat.");
    await ana.page.locator(".escalation-status", { hasText: "accepted by Rina" }).waitFor({ timeout: STEP_MS });
    await line(v.page, ".line.system", "A crisis counsellor has joined the chat.");
    await line(rina.page, ".line.system", "You are in the conversation");
    await v.page.getByLabel("Write a message").fill("He took my passport. I need help now.");
    await v.page.keyboard.press("Enter");
    await line(rina.page, ".line.theirs", "He took my passport. I need help now.");
    await rina.page.getByRole("textbox", { name: "Message" }).fill("I'm Rina from the crisis line. Are you safe where you are?");
    await rina.page.getByRole("button", { name: "Send" }).click();
    await line(v.page, ".line.theirs", "I'm Rina from the crisis line. Are you safe where you are?");
    assert.match(await v.page.locator(".line.theirs").last().textContent(), /Rina/);
    await line(ana.page, ".line.theirs", "I'm Rina from the crisis line.");
    await shot(rina.page, "e2e-crisis-responder-console.png");
    await shot(v.page, "e2e-visitor-crisis-joined.png");

    // The counsellor leaves the chat to the responder, who removes her.
    ana.page.once("dialog", (d) => d.accept());
    await ana.page.getByRole("button", { name: "Leave the chat to the responder" }).click();
    await line(ana.page, ".line.system", "You are no longer in this chat.");
    await line(rina.page, ".line.system", "Ana left the chat to you");
    await line(rina.page, ".line.system", "previous counsellor was removed");
    await line(v.page, ".line.system", "The previous counsellor has left the chat.");
    await v.page.getByLabel("Write a message").fill("Yes, I am at a friend's place.");
    await v.page.keyboard.press("Enter");
    await line(rina.page, ".line.theirs", "Yes, I am at a friend's place.");
    await rina.page.getByRole("textbox", { name: "Message" }).fill("Good. Stay there, we will call you.");
    await rina.page.getByRole("button", { name: "Send" }).click();
    await line(v.page, ".line.theirs", "Good. Stay there, we will call you.");
    assert.deepEqual(await unlabelled(rina.page), []);
    for (const ctx of [v, rina]) {
      assert.deepEqual(ctx.log.requests.filter((u) => !u.startsWith(ORIGIN)), []);
      assert.deepEqual(ctx.log.problems, []);
    }
    await v.context.close();
  });

  await check("no page made a request to another origin (network logs), and no page error", async () => {
    // The visitor's page fetched the JS its HTML names, then the chat's code
    // (visitor/live.ts and what it imports), and nothing else: not the console,
    // not ts-mls's other ciphersuites (what the README's size counts).
    const html = await (await fetch(`${ORIGIN}/`)).text();
    const named = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.js)"/g)].map((m) => `${ORIGIN}${m[1]}`);
    const live = (await readdir(join(WEB, "dist", "assets"))).find((f) => /^live-[^.]+\.js$/.test(f));
    const liveText = await readFile(join(WEB, "dist", "assets", live), "utf8");
    const chat = [live, ...[...liveText.matchAll(/(?:from|import)\s*["']\.\/([^"']+\.js)["']/g)].map((m) => m[1])].map((f) => `${ORIGIN}/assets/${f}`);
    const fetched = [...new Set(visitor.log.requests.filter((u) => u.endsWith(".js")))].sort();
    assert.deepEqual(fetched, [...new Set([...named, ...chat])].sort());
    for (const [who, ctx] of Object.entries({ visitor, ana, besa })) {
      const others = ctx.log.requests.filter((u) => !u.startsWith(ORIGIN) && u !== EXIT_URL);
      assert.deepEqual(others, [], `${who} asked another origin`);
      assert.ok(ctx.log.sockets.length > 0 && ctx.log.sockets.every((u) => u.startsWith(WS_ORIGIN)), `${who}: ${ctx.log.sockets}`);
      assert.deepEqual(ctx.log.problems, [], `${who} had page errors`);
    }
  });

  await check("circles: a moderator creates a circle and an invitation link; two visitors join by the link, are let in, talk with the moderator, and one leaves", async () => {
    // Its own server: the visitors share this machine's address and its per-source budget.
    const srv = await startServer("[intake]\nrequests_per_source_per_minute = 1000\nsource_burst = 1000\n");
    try {
      const vera = await createStaff("vera", "Vera", "counsellor", srv.config);
      const mod = await newContext({ width: 1200, height: 800 }, srv.origin);
      await consoleLogin(mod.page, vera, srv.origin);
      await mod.page.getByLabel("Circle name").fill("Evening circle");
      await mod.page.getByLabel("Topic").fill("Health and safety");
      await mod.page.getByRole("button", { name: "Create circle" }).click();
      await mod.page.getByRole("button", { name: "New invitation" }).click();
      const link = (await mod.page.locator(".invitation-link").first().textContent()).trim();
      assert.match(link, /\/#circle$/, "the link holds no code");
      const code = (await mod.page.locator(".invitation-code").first().textContent()).trim();
      assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
      await mod.page.getByRole("img", { name: "Invitation QR code" }).waitFor();
      const visitors = [];
      for (const name of ["Rosa", "Mira"]) {
        const v = await newContext({ width: 360, height: 740 }, srv.origin);
        await openInvitation(v.page, link, code);
        await v.page.getByRole("heading", { name: "Evening circle" }).waitFor({ timeout: STEP_MS });
        assert.ok(!v.page.url().includes("circle="), "the code is not left in the address bar or history");
        await v.page.getByLabel("The name others in this circle will see").fill(name);
        await v.page.getByRole("button", { name: "Ask to join" }).click();
        await v.page.getByText("Waiting for a moderator to let you in").waitFor({ timeout: STEP_MS });
        visitors.push(v);
      }
      await shot(visitors[0].page, "e2e-circle-waiting.png");
      for (const name of ["Rosa", "Mira"]) {
        await mod.page.getByRole("button", { name: `Let ${name} in` }).click();
        await mod.page.getByRole("button", { name: `Mute ${name}` }).waitFor({ timeout: STEP_MS });
      }
      for (const v of visitors) {
        await v.page.getByText("You see only messages sent after you joined").waitFor({ timeout: STEP_MS });
      }
      await visitors[0].page.getByRole("textbox", { name: "Write a message" }).fill("Hello from Rosa");
      await visitors[0].page.getByRole("button", { name: "Send" }).click();
      await line(visitors[1].page, ".line.theirs", "Hello from Rosa");
      assert.match(await visitors[1].page.locator(".line.theirs").first().textContent(), /Rosa/);
      await line(mod.page, ".line.theirs", "Hello from Rosa");
      await mod.page.getByRole("textbox", { name: "Message" }).fill("Welcome, both of you");
      await mod.page.getByRole("button", { name: "Send" }).click();
      for (const v of visitors) await line(v.page, ".line.theirs", "Welcome, both of you");
      await shot(visitors[1].page, "e2e-circle-chat.png");
      await shot(mod.page, "e2e-circle-console.png");
      // An auto-approve circle: the moderator's console lets people in by itself.
      await mod.page.getByLabel("Circle name").fill("Open circle");
      await mod.page.getByLabel("Topic").fill("Peer support");
      await mod.page.getByLabel("Let people in without asking me").check();
      await mod.page.getByRole("button", { name: "Create circle" }).click();
      const open = mod.page.getByRole("article", { name: "Circle Open circle" });
      await open.getByRole("button", { name: "New invitation" }).click();
      const openLink = (await open.locator(".invitation-link").first().textContent()).trim();
      const openCode = (await open.locator(".invitation-code").first().textContent()).trim();
      const lena = await newContext({ width: 360, height: 740 }, srv.origin);
      await openInvitation(lena.page, openLink, openCode);
      await lena.page.getByLabel("The name others in this circle will see").fill("Lena");
      await lena.page.getByRole("button", { name: "Ask to join" }).click();
      await lena.page.getByText("You see only messages sent after you joined").waitFor({ timeout: STEP_MS });
      await open.getByRole("button", { name: "Mute Lena" }).waitFor({ timeout: STEP_MS });
      visitors.push(lena);
      await visitors[1].page.getByRole("button", { name: "Leave the circle" }).click();
      await visitors[1].page.getByText("You left the circle.").waitFor({ timeout: STEP_MS });
      await mod.page.getByRole("button", { name: "Circle · Evening circle" }).click();
      await line(mod.page, ".line.system", "Mira left the circle.");
      // Quick exit works in a circle as everywhere: a neutral page, nothing stored.
      await lena.page.keyboard.press("Escape");
      await lena.page.keyboard.press("Escape");
      await lena.page.waitForURL(EXIT_URL);
      const stored = await lena.context.storageState();
      assert.deepEqual(stored.cookies, []);
      assert.ok(stored.origins.every((o) => o.localStorage.length === 0));
      for (const ctx of [mod, ...visitors]) {
        assert.deepEqual(ctx.log.requests.filter((u) => !u.startsWith(srv.origin) && u !== EXIT_URL), []);
        assert.deepEqual(ctx.log.problems, []);
      }
      for (const ctx of [mod, ...visitors]) await ctx.context.close();
    } finally {
      await srv.stop();
    }
  });

  await check("circles after a reload: the moderator reloads her console and still lets people in, mutes and removes members", async () => {
    // Its own server: the visitors share this machine's address and its per-source budget.
    const srv = await startServer("[intake]\nrequests_per_source_per_minute = 1000\nsource_burst = 1000\n");
    const contexts = [];
    try {
      const mona = await createStaff("mona", "Mona", "counsellor", srv.config);
      const mod = await newContext({ width: 1200, height: 800 }, srv.origin);
      contexts.push(mod);
      await consoleLogin(mod.page, mona, srv.origin);
      await mod.page.getByLabel("Circle name").fill("Late circle");
      await mod.page.getByLabel("Topic").fill("Work and safety");
      await mod.page.getByRole("button", { name: "Create circle" }).click();
      const card = mod.page.getByRole("article", { name: "Circle Late circle" });
      await card.getByRole("button", { name: "New invitation" }).click();
      const link = (await card.locator(".invitation-link").first().textContent()).trim();
      const code = (await card.locator(".invitation-code").first().textContent()).trim();
      const joinAs = async (name) => {
        const v = await newContext({ width: 360, height: 740 }, srv.origin);
        contexts.push(v);
        await openInvitation(v.page, link, code);
        await v.page.getByRole("heading", { name: "Late circle" }).waitFor({ timeout: STEP_MS });
        await v.page.getByLabel("The name others in this circle will see").fill(name);
        await v.page.getByRole("button", { name: "Ask to join" }).click();
        await v.page.getByText("Waiting for a moderator to let you in").waitFor({ timeout: STEP_MS });
        return v;
      };
      // Rosa is let in before the reload; Mira asks while the console is open and is still waiting.
      const rosa = await joinAs("Rosa");
      await card.getByRole("button", { name: "Let Rosa in" }).click();
      await rosa.page.getByText("You see only messages sent after you joined").waitFor({ timeout: STEP_MS });
      const mira = await joinAs("Mira");
      await card.getByRole("button", { name: "Let Mira in" }).waitFor({ timeout: STEP_MS });

      // The moderator reloads and logs in again.
      await mod.page.reload();
      const started = Date.now();
      await mod.page.getByLabel("Username").fill(mona.username);
      await mod.page.getByLabel("Password").fill(mona.password);
      await mod.page.getByRole("button", { name: "Log in" }).click();
      await mod.page.getByRole("group", { name: "Shift state" }).waitFor({ timeout: STEP_MS });

      // Approve: the waiting request is still there, and Mira gets in.
      await card.getByRole("button", { name: "Let Mira in" }).click({ timeout: STEP_MS });
      measurements.circleModeratorReloadToApprovedMs = Date.now() - started;
      await mira.page.getByText("You see only messages sent after you joined").waitFor({ timeout: STEP_MS });
      await card.getByRole("button", { name: "Mute Mira" }).waitFor({ timeout: STEP_MS });
      await mod.page.getByRole("button", { name: "Circle · Late circle" }).click();
      await mod.page.getByRole("textbox", { name: "Message" }).fill("Welcome Mira, hello again Rosa");
      await mod.page.getByRole("button", { name: "Send" }).click();
      for (const v of [rosa, mira]) await line(v.page, ".line.theirs", "Welcome Mira, hello again Rosa");
      await mira.page.getByRole("textbox", { name: "Write a message" }).fill("Hi all, Mira here");
      await mira.page.getByRole("button", { name: "Send" }).click();
      await line(rosa.page, ".line.theirs", "Hi all, Mira here");
      await line(mod.page, ".line.theirs", "Hi all, Mira here");

      // Mute: Mira's next message is refused, and she is told so.
      await card.getByRole("button", { name: "Mute Mira" }).click();
      await card.getByRole("button", { name: "Unmute Mira" }).waitFor({ timeout: STEP_MS });
      await mira.page.getByRole("textbox", { name: "Write a message" }).fill("This should not go out");
      await mira.page.getByRole("button", { name: "Send" }).click();
      await mira.page.getByText("A moderator has muted you. Your message was not sent.").waitFor({ timeout: STEP_MS });

      // A second reload: the console shows Mira as muted still (the roster tells moderators who is).
      await mod.page.reload();
      await mod.page.getByLabel("Username").fill(mona.username);
      await mod.page.getByLabel("Password").fill(mona.password);
      await mod.page.getByRole("button", { name: "Log in" }).click();
      await mod.page.getByRole("group", { name: "Shift state" }).waitFor({ timeout: STEP_MS });
      await card.getByRole("button", { name: "Unmute Mira" }).waitFor({ timeout: STEP_MS });
      assert.equal(await card.getByRole("button", { name: "Mute Mira", exact: true }).count(), 0, "Mira shows as muted after the reload");

      // Remove: Rosa is out of the circle; Mira still reads the moderator.
      await card.getByRole("button", { name: "Remove Rosa" }).click();
      await card.getByRole("button", { name: "Remove Rosa" }).waitFor({ state: "detached", timeout: STEP_MS });
      await rosa.page.getByText("This circle has ended.").waitFor({ timeout: STEP_MS });
      await mod.page.getByRole("button", { name: "Circle · Late circle" }).click();
      await mod.page.getByRole("textbox", { name: "Message" }).fill("Rosa has left us for tonight");
      await mod.page.getByRole("button", { name: "Send" }).click();
      await line(mira.page, ".line.theirs", "Rosa has left us for tonight");
      await mod.page.getByText("Removed Rosa", { exact: true }).waitFor({ timeout: STEP_MS });
      assert.equal(await rosa.page.getByText("Rosa has left us for tonight").count(), 0, "a removed member reads nothing more");
      assert.equal(await rosa.page.getByText("This should not go out").count(), 0, "a muted member's message reached nobody");
      assert.equal(await mod.page.getByText("This should not go out").count(), 0, "a muted member's message reached nobody");
      await shot(mod.page, "e2e-circle-console-after-reload.png");
      for (const [who, ctx] of Object.entries({ mod, rosa, mira })) {
        assert.deepEqual(ctx.log.requests.filter((u) => !u.startsWith(srv.origin)), [], who);
        assert.deepEqual(ctx.log.problems, [], who);
      }
    } finally {
      for (const ctx of contexts) await ctx.context.close().catch(() => {});
      await srv.stop();
    }
  });

  await check("a supervisor rescues a chat whose counsellor went away: the visitor is told and keeps talking; her quick exit shows", async () => {
    await besa.page.getByRole("button", { name: "On break" }).click();
    await besa.page.locator('button[aria-pressed="true"]', { hasText: "On break" }).waitFor();
    await ana.page.getByRole("button", { name: "Available" }).click();
    await ana.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor();
    const v = await newContext({ width: 360, height: 740 });
    await v.page.goto(`${ORIGIN}/`);
    await v.page.getByRole("button", { name: "English" }).click();
    await v.page.getByRole("button", { name: "I understand, continue" }).click();
    await v.page.getByRole("button", { name: "Start the chat" }).click();
    await ana.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click({ timeout: STEP_MS });
    await v.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
    await v.page.getByLabel("Write a message").fill("Is anyone there tonight?");
    await v.page.keyboard.press("Enter");
    await line(ana.page, ".line.theirs", "Is anyone there tonight?");
    // Ana's browser goes away with the chat open.
    await ana.page.goto("about:blank");
    await besa.page.getByRole("button", { name: "Available" }).click();
    await besa.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor();
    await besa.page.getByRole("button", { name: "Supervisor board" }).click();
    const stranded = besa.page.locator(".stranded li", { hasText: "Ana" }).first();
    await stranded.waitFor({ timeout: STEP_MS });
    assert.match(await stranded.textContent(), /counsellor offline/);
    await stranded.getByRole("button", { name: "Take it myself" }).click();
    await v.page.getByText("Your counsellor had to step away.").waitFor({ timeout: STEP_MS });
    await v.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
    await besa.page.getByRole("button", { name: "Supervisor board" }).click();
    await v.page.getByLabel("Write a message").fill("Thank you for taking over.");
    await v.page.keyboard.press("Enter");
    await line(besa.page, ".line.theirs", "Thank you for taking over.");
    await besa.page.getByRole("textbox", { name: "Message" }).fill("I'm Besa, I have read everything you wrote.");
    await besa.page.getByRole("button", { name: "Send" }).click();
    await line(v.page, ".line.theirs", "I'm Besa, I have read everything you wrote.");
    await shot(v.page, "e2e-visitor-rescued.png");
    await v.page.keyboard.press("Escape");
    await v.page.keyboard.press("Escape");
    await v.page.waitForURL(EXIT_URL);
    await line(besa.page, ".line.system", "The visitor pressed quick exit.");
    await shot(besa.page, "e2e-supervisor-rescued-quick-exit.png");
    assert.deepEqual(v.log.problems, []);
    await v.context.close();
  });

  await check("off hours with nobody on the team able to read: the visitor is told it could not be delivered, with the crisis lines", async () => {
    const today = ((new Date().getUTCDay() + 6) % 7) + 1;
    const otherDay = ((today + 2) % 7) + 1;
    const closed = await startServer(`[intake]\ntime_zone = "UTC"\nopening_hours = [{ weekday = ${otherDay}, opens = 540, closes = 1020 }]\n`);
    try {
      // An account that never logged in has no current key; an admin is never sealed to.
      await createStaff("dora", "Dora", "counsellor", closed.config);
      const v = await newContext({ width: 360, height: 740 }, closed.origin);
      await v.page.goto(`${closed.origin}/`);
      await v.page.getByRole("button", { name: "English" }).click();
      await v.page.getByRole("button", { name: "I understand, continue" }).click();
      await v.page.getByRole("button", { name: "Start the chat" }).click();
      await v.page.getByRole("heading", { level: 1, name: /We are closed right now/ }).waitFor({ timeout: STEP_MS });
      await v.page.getByRole("textbox", { name: "Leave a message for the team" }).fill("Is someone there?");
      await v.page.getByRole("button", { name: "Send the message" }).click();
      const alert = v.page.getByRole("alert").filter({ hasText: "could not be delivered" });
      await alert.waitFor({ timeout: STEP_MS });
      assert.ok((await alert.locator("a.call").count()) > 0, "the crisis lines are in the notice");
      assert.equal(await v.page.getByText("Your message was sent to the team").count(), 0);
      await shot(v.page, "e2e-visitor-team-message-undelivered.png");
      await v.context.close();
    } finally {
      await closed.stop();
    }
  });

  await check("off hours: schedule, crisis numbers, and a message sealed to the team that a counsellor reads", async () => {
    const today = ((new Date().getUTCDay() + 6) % 7) + 1;
    const otherDay = (today % 7) + 1 === today ? 1 : ((today + 2) % 7) + 1;
    const closed = await startServer(`[intake]\ntime_zone = "UTC"\nopening_hours = [{ weekday = ${otherDay}, opens = 540, closes = 1020 }]\n`);
    try {
      const cora = await createStaff("cora", "Cora", "counsellor", closed.config);
      const staffCtx = await newContext({ width: 1200, height: 800 }, closed.origin);
      await consoleLogin(staffCtx.page, cora, closed.origin);
      const v = await newContext({ width: 360, height: 740 }, closed.origin);
      await v.page.goto(`${closed.origin}/`);
      await v.page.getByRole("button", { name: "English" }).click();
      await v.page.getByRole("button", { name: "I understand, continue" }).click();
      await v.page.getByRole("button", { name: "Start the chat" }).click();
      await v.page.getByRole("heading", { level: 1, name: /We are closed right now/ }).waitFor({ timeout: STEP_MS });
      await v.page.getByRole("heading", { name: "When we are open" }).waitFor();
      assert.match(await v.page.locator(".hours").textContent(), /09:00–17:00/);
      assert.ok((await v.page.locator("a.call").count()) > 0, "crisis lines are shown");
      await v.page.getByRole("textbox", { name: "Leave a message for the team" }).fill("Please call me back tomorrow, it is safe after 10.");
      await v.page.getByRole("button", { name: "Send the message" }).click();
      await v.page.getByText("Your message was sent to the team. Thank you.").waitFor({ timeout: STEP_MS });
      await shot(v.page, "e2e-visitor-off-hours.png");
      await staffCtx.page.getByRole("button", { name: "Available" }).click();
      await staffCtx.page.getByRole("heading", { name: "Messages left for the team" }).waitFor({ timeout: STEP_MS });
      await staffCtx.page.getByRole("button", { name: "Take" }).first().click();
      await line(staffCtx.page, ".line.theirs", "Please call me back tomorrow, it is safe after 10.");
      for (const ctx of [v, staffCtx]) {
        assert.deepEqual(ctx.log.requests.filter((u) => !u.startsWith(closed.origin)), []);
        assert.deepEqual(ctx.log.problems, []);
      }
      await v.context.close();
      await staffCtx.context.close();
    } finally {
      await closed.stop();
    }
  });

  await check("night message: left while the counsellor is offline, the server restarts, she logs in on a new browser and reads it", async () => {
    const today = ((new Date().getUTCDay() + 6) % 7) + 1;
    const otherDay = ((today + 2) % 7) + 1;
    let closed = await startServer(`[intake]\ntime_zone = "UTC"\nopening_hours = [{ weekday = ${otherDay}, opens = 540, closes = 1020 }]\n`);
    const contexts = [];
    try {
      // Nora logged in once (her key is in her vault and registered, her key packages published), then went home.
      const nora = await createStaff("nora", "Nora", "counsellor", closed.config);
      const before = await newContext({ width: 1200, height: 800 }, closed.origin);
      contexts.push(before);
      await consoleLogin(before.page, nora, closed.origin);
      await before.page.getByRole("button", { name: "Log out" }).click();
      await before.page.getByRole("heading", { name: "Counsellor console" }).waitFor({ timeout: STEP_MS });
      await before.context.close();

      // At night a visitor leaves a message; nobody is online.
      const text = "I work nights. Please write to me after 11, it is safe then.";
      const v = await newContext({ width: 360, height: 740 }, closed.origin);
      contexts.push(v);
      await v.page.goto(`${closed.origin}/`);
      await v.page.getByRole("button", { name: "English" }).click();
      await v.page.getByRole("button", { name: "I understand, continue" }).click();
      await v.page.getByRole("button", { name: "Start the chat" }).click();
      await v.page.getByRole("heading", { level: 1, name: /We are closed right now/ }).waitFor({ timeout: STEP_MS });
      await v.page.getByRole("textbox", { name: "Leave a message for the team" }).fill(text);
      await v.page.getByRole("button", { name: "Send the message" }).click();
      await v.page.getByText("Your message was sent to the team. Thank you.").waitFor({ timeout: STEP_MS });
      assert.equal(await v.page.getByRole("alert").filter({ hasText: "could not be delivered" }).count(), 0);
      assert.deepEqual(v.log.problems, []);
      await v.context.close();

      // The server restarts on the same data directory.
      let started = Date.now();
      closed = await closed.restart();
      measurements.nightMessageServerRestartMs = Date.now() - started;

      // In the morning Nora logs in on another computer: a fresh context with nothing of the old one.
      started = Date.now();
      const staffCtx = await newContext({ width: 1200, height: 800 }, closed.origin);
      contexts.push(staffCtx);
      await consoleLogin(staffCtx.page, nora, closed.origin);
      await staffCtx.page.getByRole("button", { name: "Available" }).click();
      await staffCtx.page.getByRole("heading", { name: "Messages left for the team" }).waitFor({ timeout: STEP_MS });
      assert.match(await staffCtx.page.locator("section[aria-labelledby='team-h'] li").first().textContent(), /^English · /);
      await staffCtx.page.getByRole("button", { name: "Take" }).first().click();
      await line(staffCtx.page, ".line.theirs", text);
      measurements.nightMessageLoginToReadMs = Date.now() - started;
      assert.equal(await staffCtx.page.locator(".line.theirs", { hasText: text }).count(), 1, "the message is there once");
      await staffCtx.page.getByRole("heading", { name: "Messages left for the team" }).waitFor({ state: "detached", timeout: STEP_MS });
      assert.equal(
        (await staffCtx.page.locator(".line.theirs", { hasText: text }).locator(".from").textContent()).trim(),
        "Visitor",
        "shown as from the visitor, not as a key",
      );
      await shot(staffCtx.page, "e2e-counsellor-reads-night-message-after-restart.png");
      assert.deepEqual(staffCtx.log.requests.filter((u) => !u.startsWith(closed.origin)), []);
      assert.deepEqual(staffCtx.log.problems, []);
    } finally {
      for (const ctx of contexts) await ctx.context.close().catch(() => {});
      await closed.stop();
    }
  });

  await check("a session that died while the server was down sends the console back to the login, not to a dead screen", async () => {
    let own = await startServer();
    let ctx;
    try {
      const ida = await createStaff("ida", "Ida", "counsellor", own.config);
      ctx = await newContext({ width: 1200, height: 800 }, own.origin);
      await consoleLogin(ctx.page, ida, own.origin);
      // The server goes down; meanwhile her sessions are revoked (as a --demo restart or a reset does).
      await own.stop();
      await admin(["revoke-sessions", "ida"], "", own.config);
      const started = Date.now();
      own = await own.restartOnSamePort();
      await ctx.page.getByLabel("Username").waitFor({ timeout: STEP_MS });
      measurements.deadSessionToLoginMs = Date.now() - started;
      assert.equal(await ctx.page.getByRole("group", { name: "Shift state" }).count(), 0, "the dead console is gone");
      // She logs in again on the same page and is back at work.
      await ctx.page.getByLabel("Username").fill(ida.username);
      await ctx.page.getByLabel("Password").fill(ida.password);
      await ctx.page.getByRole("button", { name: "Log in" }).click();
      await ctx.page.getByRole("group", { name: "Shift state" }).waitFor({ timeout: STEP_MS });
      assert.equal(await ctx.page.getByText("· disconnected").count(), 0, "connected again");
    } finally {
      await ctx?.context.close().catch(() => {});
      await own.stop();
    }
  });

  await check("safety net: a counsellor whose browser state is destroyed comes back; the visitor's page brings her new key in and says so", async () => {
    const own = await startServer();
    try {
      const lena = await createStaff("lena", "Lena", "counsellor", own.config);
      let staffCtx = await newContext({ width: 1200, height: 800 }, own.origin);
      await consoleLogin(staffCtx.page, lena, own.origin);
      await staffCtx.page.getByRole("button", { name: "Available" }).click();
      const v = await newContext({ width: 360, height: 740 }, own.origin);
      await v.page.goto(`${own.origin}/`);
      await v.page.getByRole("button", { name: "English" }).click();
      await v.page.getByRole("button", { name: "I understand, continue" }).click();
      await v.page.getByRole("radio", { name: "Health and HIV" }).check();
      await v.page.getByRole("button", { name: "Start the chat" }).click();
      await staffCtx.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click();
      await v.page.locator(".badge.verified", { hasText: "Verified counsellor" }).waitFor({ timeout: STEP_MS });
      // Her state is destroyed: a password reset erases her vault and revokes her key; she logs in on
      // another computer with a new key.
      await staffCtx.context.close();
      const newPassword = `pw-${Date.now()}-reset`;
      await admin(["reset-password", "lena", "--password-stdin"], `${newPassword}\n`, own.config);
      const started = Date.now();
      staffCtx = await newContext({ width: 1200, height: 800 }, own.origin);
      await consoleLogin(staffCtx.page, { ...lena, password: newPassword }, own.origin);
      await line(v.page, ".line.system", "Your counsellor reconnected.");
      measurements.stateLostToReconnectedMs = Date.now() - started;
      await v.page.locator(".badge.verified", { hasText: "Verified counsellor" }).waitFor({ timeout: STEP_MS });
      await v.page.getByLabel("Write a message").fill("Are you still there?");
      await v.page.keyboard.press("Enter");
      await line(v.page, ".line.mine .delivery", "Sent");
      await shot(v.page, "e2e-visitor-counsellor-reconnected.png");
      for (const ctx of [v, staffCtx]) assert.deepEqual(ctx.log.problems, []);
      await v.context.close();
      await staffCtx.context.close();
    } finally {
      await own.stop();
    }
  });

  await check("a counsellor in two chats reloads, then logs in on a new browser: both chats are back within 5 s with their history, and talk goes on", async () => {
    const srv = await startServer();
    const contexts = [];
    try {
      const vera = await createStaff("vera", "Vera", "counsellor", srv.config);
      let staffCtx = await newContext({ width: 1200, height: 800 }, srv.origin);
      contexts.push(staffCtx);
      await consoleLogin(staffCtx.page, vera, srv.origin);
      await staffCtx.page.getByRole("button", { name: "Available" }).click();
      const visitors = [];
      const titles = [];
      for (const [i, topic] of [[1, "Health and HIV"], [2, "Violence"]]) {
        const v = await newContext({ width: 360, height: 740 }, srv.origin);
        contexts.push(v);
        visitors.push(v);
        await v.page.goto(`${srv.origin}/`);
        await v.page.getByRole("button", { name: "English" }).click();
        await v.page.getByRole("button", { name: "I understand, continue" }).click();
        await v.page.getByRole("radio", { name: topic }).check();
        await v.page.getByRole("button", { name: "Start the chat" }).click();
        await v.page.getByLabel("Write a message").fill(`visitor ${i}: hello before the reload`);
        await v.page.keyboard.press("Enter");
        await staffCtx.page.locator(".offer").first().getByRole("button", { name: "Accept" }).click();
        await line(staffCtx.page, ".line.theirs", `visitor ${i}: hello before the reload`);
        await v.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
        titles.push(await staffCtx.page.locator("#pane-h").textContent());
        await staffCtx.page.getByRole("textbox", { name: "Message" }).fill(`Vera to ${i}: hello`);
        await staffCtx.page.getByRole("button", { name: "Send" }).click();
        await line(v.page, ".line.theirs", `Vera to ${i}: hello`);
      }
      assert.equal(await staffCtx.page.locator(".work-list button.conversation").count(), 2);

      const notVerified = async () => {
        for (const v of visitors) assert.equal(await v.page.getByText("Not verified").count(), 0, "the visitor never sees Not verified");
      };
      /** Log in again and time it until both chats show their history. */
      const loginAndRestore = async (label) => {
        staffCtx.page.on("console", (m) => {
          const derived = m.text().match(/^vault key derived in (\d+) ms/);
          if (derived) measurements[`vaultKeyDeriveMs_${label}`] = Number(derived[1]);
        });
        await staffCtx.page.goto(`${srv.origin}/console.html`);
        await staffCtx.page.getByLabel("Username").fill(vera.username);
        await staffCtx.page.getByLabel("Password").fill(vera.password);
        const started = Date.now();
        await staffCtx.page.getByRole("button", { name: "Log in" }).click();
        for (const [i, title] of titles.entries()) {
          await staffCtx.page.locator(".work-list button.conversation", { hasText: title }).click({ timeout: 5_000 });
          await staffCtx.page.locator(".line.theirs", { hasText: `visitor ${i + 1}: hello before the reload` }).waitFor({ timeout: 5_000 });
          await staffCtx.page.locator(".line.mine", { hasText: `Vera to ${i + 1}: hello` }).waitFor({ timeout: 5_000 });
        }
        const ms = Date.now() - started;
        measurements[`consoleRestoreMs_${label}`] = ms;
        assert.ok(ms <= 5_000, `both chats back in ${ms} ms`);
        // The shift chosen before is taken up again.
        await staffCtx.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor({ timeout: STEP_MS });
        for (const [i, v] of visitors.entries()) {
          await staffCtx.page.locator(".work-list button.conversation", { hasText: titles[i] }).click();
          await v.page.getByLabel("Write a message").fill(`visitor ${i + 1}: still here after ${label}`);
          await v.page.keyboard.press("Enter");
          await line(staffCtx.page, ".line.theirs", `visitor ${i + 1}: still here after ${label}`);
          await staffCtx.page.getByRole("textbox", { name: "Message" }).fill(`Vera to ${i + 1}: back after ${label}`);
          await staffCtx.page.getByRole("button", { name: "Send" }).click();
          await line(v.page, ".line.theirs", `Vera to ${i + 1}: back after ${label}`);
          await v.page.locator(".badge.verified").waitFor({ timeout: STEP_MS });
        }
        await notVerified();
      };

      // A reload mid-chat.
      await staffCtx.page.reload();
      await loginAndRestore("reload");
      await shot(staffCtx.page, "e2e-console-restored-after-reload.png");

      // The browser closed; another computer (a fresh context with nothing of the old one).
      await staffCtx.context.close();
      staffCtx = await newContext({ width: 1200, height: 800 }, srv.origin);
      contexts.push(staffCtx);
      await loginAndRestore("new-browser");
      await shot(staffCtx.page, "e2e-console-restored-new-browser.png");
      assert.deepEqual(
        (await staffCtx.context.storageState()).origins.filter((o) => o.localStorage.length > 0),
        [],
        "the console keeps nothing in browser storage",
      );

      // Two consoles at once: the newer login takes over, the older one stops and says so.
      const second = await newContext({ width: 1200, height: 800 }, srv.origin);
      contexts.push(second);
      await consoleLogin(second.page, vera, srv.origin);
      await staffCtx.page.getByText("This console was opened on another computer or tab").waitFor({ timeout: STEP_MS });
      await second.page.locator(".work-list button.conversation").nth(1).waitFor({ timeout: 5_000 });

      // State gone (a password reset erases the vault and revokes her key): the visitors' pages bring
      // her new key in (the safety net), and "Clocked out" offers the hand-over.
      const newPassword = `pw-${Date.now()}-reset`;
      await admin(["reset-password", "vera", "--password-stdin"], `${newPassword}\n`, srv.config);
      const fresh = await newContext({ width: 1200, height: 800 }, srv.origin);
      contexts.push(fresh);
      await consoleLogin(fresh.page, { ...vera, password: newPassword }, srv.origin);
      for (const v of visitors) await line(v.page, ".line.system", "Your counsellor reconnected.");
      await fresh.page.getByRole("button", { name: "Clocked out" }).click();
      const handOver = fresh.page.getByRole("button", { name: "Hand over my open chats and clock out" });
      await handOver.waitFor({ timeout: STEP_MS });
      await shot(fresh.page, "e2e-console-handover-offered.png");
      await handOver.click();
      await fresh.page.locator('button[aria-pressed="true"]', { hasText: "Clocked out" }).waitFor({ timeout: STEP_MS });
      await handOver.waitFor({ state: "detached", timeout: STEP_MS });
      for (const ctx of contexts) assert.deepEqual(ctx.log.requests.filter((u) => !u.startsWith(srv.origin)), []);
    } finally {
      for (const ctx of contexts) await ctx.context.close().catch(() => {});
      await srv.stop();
    }
  });

  await consoleChecks({ check, startServer, createStaff, newContext, shot, unlabelled, STEP_MS });
  await visitorChecks({ check, startServer, createStaff, consoleLogin, newContext, shot, measurements, STEP_MS, ARTIFACTS });
} finally {
  await browser.close().catch(() => {});
  await main.stop();
  await rm(root, { recursive: true, force: true });
}

await writeFile(join(ARTIFACTS, "e2e-measurements.json"), `${JSON.stringify(measurements, null, 2)}\n`);
if (measurements.pageLoadToFirstMessageMs !== undefined) {
  console.log(`  page load → counsellor has the first message: ${measurements.pageLoadToFirstMessageMs} ms (loopback)`);
}
const failed = results.filter((r) => !r.ok).length;
console.log(`e2e: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
