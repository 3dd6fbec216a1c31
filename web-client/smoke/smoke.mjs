// Browser smoke test of the built visitor page, in Debian's Chromium driven
// by playwright-core. It serves dist/ with `vite preview` on 127.0.0.1 (which
// sends the production security headers, strict CSP included) and checks:
// the language and consent screen in each language, SOS with the numbers,
// the start screen, quick exit by Escape twice and by the button (neutral
// page, history entry replaced, no storage left), no CSP violation or page
// error, and no request to any other origin. Screenshots go to
// test-artifacts/. Prints "N passed, M failed" and exits non-zero on failure.

import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";
import { preview } from "vite";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// The build's VITE_EXIT_URL (.env). Requests to it are answered here, never sent.
const EXIT_URL = process.env.VITE_EXIT_URL ?? "https://www.google.com/";

const results = [];

async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`  FAIL  ${name}\n        ${String(error?.stack ?? error).split("\n").slice(0, 6).join("\n        ")}`);
  }
}

await mkdir(ARTIFACTS, { recursive: true });

const server = await preview({
  root: ROOT,
  logLevel: "silent",
  preview: { host: "127.0.0.1", port: 0, strictPort: false, open: false },
});
const address = server.httpServer.address();
const ORIGIN = `http://127.0.0.1:${address.port}`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/** Every request any page of a context made, and what the pages complained about. */
async function visitorContext(locale) {
  const context = await browser.newContext({ locale, viewport: { width: 360, height: 740 }, deviceScaleFactor: 1 });
  const log = { requests: [], sockets: [], problems: [] };
  // Nothing leaves this machine: our origin is served, the exit site is
  // stubbed, anything else is recorded and refused.
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    log.requests.push(url);
    if (url.startsWith(ORIGIN)) return route.continue();
    if (url === EXIT_URL) {
      return route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>Search</title><p>search</p>" });
    }
    return route.abort();
  });
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  // No Parasol server behind `vite preview`: the socket is answered here and
  // closed at once, as a server that is down would look to the page.
  await context.routeWebSocket(/\/v1\/ws$/, (ws) => {
    log.sockets.push(ws.url());
    ws.close({ code: 1011, reason: "no server in the smoke test" });
  });
  context.on("page", (page) => watch(page, log));
  return { context, log };
}

function watch(page, log) {
  page.on("pageerror", (e) => log.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") log.problems.push(`console ${m.type()}: ${m.text()}`);
  });
}

const otherOrigins = (log) => log.requests.filter((u) => !u.startsWith(ORIGIN) && u !== EXIT_URL);

async function storageLeft(page) {
  return page.evaluate(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    databases: (await indexedDB.databases()).length,
    caches: (await caches.keys()).length,
  }));
}

const empty = { local: 0, session: 0, cookie: "", databases: 0, caches: 0 };

let page;
let log;
let context;

try {
  ({ context, log } = await visitorContext("mk-MK"));
  page = await context.newPage();
  let response;

  await check("the page is served with the strict security headers", async () => {
    response = await page.goto(`${ORIGIN}/`);
    const headers = response.headers();
    assert.equal(response.status(), 200);
    assert.match(headers["content-security-policy"], /default-src 'none'/);
    assert.match(headers["content-security-policy"], /script-src 'self'(;|$)/);
    assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
    assert.equal(headers["cache-control"], "no-store");
    assert.equal(headers["referrer-policy"], "no-referrer");
  });

  await check("the tab is neutral: title and self-hosted favicon", async () => {
    assert.equal(await page.title(), "Notes");
    const icon = await page.locator('link[rel="icon"]').getAttribute("href");
    assert.equal(icon, "/favicon.svg");
    const fav = await page.request.get(`${ORIGIN}${icon}`);
    assert.equal(fav.status(), 200);
  });

  await check("the first screen speaks the browser's language (Macedonian) and says what is kept", async () => {
    await page.getByRole("heading", { level: 1 }).waitFor();
    assert.equal(await page.locator("html").getAttribute("lang"), "mk");
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Разговарај со некој што разбира");
    const consent = await page.locator(".consent li").allTextContents();
    assert.equal(consent.length, 5);
    assert.match(consent[1], /најдоцна по 7 дена/);
    // What stays on the phone, said exactly: no messages, but the address in the history.
    assert.match(consent[2], /не зачувува пораки/);
    assert.match(consent[2], /историјата на прелистувачот ја чува адресата/);
    assert.match(consent[3], /кризен советник/);
    await page.screenshot({ path: fileURLToPath(new URL("visitor-welcome-mk.png", ARTIFACTS)), fullPage: true });
  });

  await check("the language can be changed to Albanian and English", async () => {
    await page.getByRole("button", { name: "Shqip" }).click();
    // The page re-renders after the click; wait for it rather than race it.
    await page.waitForFunction(() => document.documentElement.lang === "sq");
    assert.equal(await page.locator("html").getAttribute("lang"), "sq");
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Fol me dikë që të kupton");
    assert.equal(await page.getByRole("button", { name: "Shqip" }).getAttribute("aria-pressed"), "true");
    await page.getByRole("button", { name: "English" }).click();
    await page.waitForFunction(() => document.documentElement.lang === "en");
    assert.equal(await page.locator("html").getAttribute("lang"), "en");
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Talk to someone who understands");
    await page.screenshot({ path: fileURLToPath(new URL("visitor-welcome-en.png", ARTIFACTS)), fullPage: true });
  });

  await check("the page fits 360 px without sideways scrolling", async () => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `content is ${width} px wide`);
  });

  await check("SOS shows the crisis numbers as call links, and goes back", async () => {
    await page.getByRole("button", { name: "I'm in danger now" }).click();
    const dialog = page.getByRole("dialog", { name: "If you are in danger now" });
    await dialog.waitFor();
    const links = await dialog.locator("a.call").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    assert.deepEqual(links, ["tel:112", "tel:192", "tel:194", "tel:080011111"]);
    assert.match(await dialog.textContent(), /Open Gate/);
    await page.screenshot({ path: fileURLToPath(new URL("visitor-sos.png", ARTIFACTS)), fullPage: true });
    await dialog.getByRole("button", { name: "Back" }).click();
    await page.getByRole("heading", { level: 1, name: "Talk to someone who understands" }).waitFor();
  });

  await check("after consent, the start screen offers the topics and urgent", async () => {
    await page.getByRole("button", { name: "I understand, continue" }).click();
    await page.getByRole("heading", { level: 1, name: "What would you like to talk about?" }).waitFor();
    // The heading takes focus, so screen readers announce the new screen.
    // React focuses it in an effect, just after the heading appears.
    await page
      .waitForFunction(() => document.activeElement?.tagName === "H1", null, { timeout: 5000 })
      .catch(() => {});
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), "H1");
    assert.equal(await page.getByRole("radio").count(), 5);
    await page.getByRole("radio", { name: "Health and HIV" }).check();
    await page.getByRole("checkbox", { name: /It is urgent/ }).check();
    assert.equal(await page.getByRole("radio", { name: "Health and HIV" }).isChecked(), true);
    await page.screenshot({ path: fileURLToPath(new URL("visitor-start.png", ARTIFACTS)), fullPage: true });
  });

  await check("starting without a reachable server says so plainly, on the same origin", async () => {
    await page.getByRole("button", { name: "Start the chat" }).click();
    await page.getByRole("heading", { level: 1, name: "No connection right now. Please try again." }).waitFor();
    assert.deepEqual(log.sockets, [`${ORIGIN.replace("http:", "ws:")}/v1/ws`]);
    await page.screenshot({ path: fileURLToPath(new URL("visitor-offline.png", ARTIFACTS)), fullPage: true });
    await page.getByRole("button", { name: "Back" }).click();
    await page.getByRole("heading", { level: 1, name: "What would you like to talk about?" }).waitFor();
  });

  await check("Escape twice leaves for the neutral site, replacing the history entry and wiping storage", async () => {
    // Plant what a careless page or an extension might have left.
    await page.evaluate(() => {
      localStorage.setItem("draft", "I need help");
      sessionStorage.setItem("ticket", "42");
      document.cookie = "seen=1; path=/";
    });
    assert.notDeepEqual(await storageLeft(page), empty);
    const entries = await page.evaluate(() => history.length);
    await page.keyboard.press("Escape");
    await page.keyboard.press("Escape");
    await page.waitForURL(EXIT_URL);
    assert.equal(await page.title(), "Search");
    assert.equal(await page.evaluate(() => history.length), entries, "quick exit must replace the entry, not add one");
    await page.goBack();
    assert.ok(!page.url().startsWith(ORIGIN), `Back returned to the chat: ${page.url()}`);
    // Back on our origin in the same tab: nothing is left.
    await page.goto(`${ORIGIN}/`);
    assert.deepEqual(await storageLeft(page), empty);
    assert.deepEqual(await context.cookies(), []);
  });

  await check("the Leave now button does the same", async () => {
    await page.evaluate(() => {
      localStorage.setItem("draft", "x");
      sessionStorage.setItem("ticket", "y");
      document.cookie = "seen=1; path=/";
    });
    const entries = await page.evaluate(() => history.length);
    await page.getByRole("button", { name: /Излези веднаш/ }).click();
    await page.waitForURL(EXIT_URL);
    assert.equal(await page.evaluate(() => history.length), entries);
    await page.goto(`${ORIGIN}/`);
    assert.deepEqual(await storageLeft(page), empty);
    const state = await context.storageState();
    assert.deepEqual(state.cookies, []);
    assert.ok(state.origins.every((o) => o.localStorage.length === 0), JSON.stringify(state.origins));
  });

  await check("no CSP violation, page error or console error", async () => {
    const violations = await page.evaluate(() => window.__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(log.problems, []);
  });

  await check("the page made no request to another origin", async () => {
    assert.ok(log.requests.length >= 4, `only ${log.requests.length} requests seen`);
    assert.deepEqual(otherOrigins(log), []);
    assert.ok(log.sockets.every((u) => u.startsWith(ORIGIN.replace("http:", "ws:"))), log.sockets.join(", "));
  });
} finally {
  await browser.close().catch(() => {});
  await new Promise((resolve) => server.httpServer.close(resolve));
}

const failed = results.filter((r) => !r.ok).length;
console.log(`smoke: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
