// Browser checks of the counsellor console (issue 21, points 1, 2 and 5),
// called from e2e.mjs: a counsellor works three chats in Macedonian with
// the keyboard shortcuts, gets desktop notifications (granted in the
// context, observed by wrapping window.Notification), and the console is
// photographed at 1280×800 and 360×740 for a tired eye at the end of a
// shift: test-artifacts/console-*.png.

import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** A deployment's own labels, dropped into the web root the server serves (web-client/README.md). */
const LABELS_FILE = fileURLToPath(new URL("../dist/console-labels.json", import.meta.url));

/** Records every notification the page shows (titles and bodies), then shows it as the browser would. */
const RECORD_NOTIFICATIONS = () => {
  const Real = window.Notification;
  window.__notifications = [];
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options?.body ?? "", tag: options?.tag ?? "" });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...a) => Real.requestPermission(...a);
  window.Notification = Recorded;
};

/** Where screenshots go (e2e.mjs's `shot` takes whole pages; the transfer form is shot as seen). */
const ARTIFACTS_DIR = fileURLToPath(new URL("../test-artifacts", import.meta.url));

export async function consoleChecks({ check, startServer, createStaff, newContext, shot, unlabelled, STEP_MS }) {
  await check("console in Macedonian: three chats worked with shortcuts, notifications, one list, phone layout", async () => {
    // Its own server: three visitors share this machine's address and its per-source budget.
    const srv = await startServer("[intake]\nrequests_per_source_per_minute = 1000\nsource_burst = 1000\n");
    const contexts = [];
    await writeFile(LABELS_FILE, JSON.stringify({ mk: { "tag.referral": "Упатена во служба" } }));
    try {
      // A supervisor who also takes chats (she picks colleagues by name), and a colleague to hand one to.
      const mila = await createStaff("mila", "Мила", "supervisor", srv.config);
      const vesna = await createStaff("vesna", "Весна", "counsellor", srv.config);
      const staff = await newContext({ width: 1280, height: 800 }, srv.origin);
      contexts.push(staff);
      await staff.context.grantPermissions(["notifications"], { origin: srv.origin });
      await staff.context.addInitScript(RECORD_NOTIFICATIONS);
      const page = staff.page;
      const notifications = () => page.evaluate(() => window.__notifications);

      // The login page in English (the browser's language), switched to Macedonian.
      await page.goto(`${srv.origin}/console.html`);
      await page.getByLabel("Language").selectOption("mk");
      await page.getByRole("heading", { level: 1, name: "Конзола за советници" }).waitFor();
      await page.getByLabel("Корисничко име").fill(mila.username);
      await page.getByLabel("Лозинка").fill(mila.password);
      await page.getByRole("button", { name: "Најави се" }).click();
      await page.getByRole("group", { name: "Смена" }).waitFor({ timeout: STEP_MS });
      assert.equal(await page.evaluate(() => localStorage.getItem("parasol.console.language")), "mk", "the pick is remembered");
      assert.equal(await page.locator("h1").count(), 1);
      // The shift state is said after login, before any button is pressed.
      await page.getByRole("status").filter({ hasText: "Твојата смена: На смена (без понуди)" }).waitFor();
      await page.getByRole("button", { name: "Примам разговори" }).click();
      await page.locator('button[aria-pressed="true"]', { hasText: "Примам разговори" }).waitFor({ timeout: STEP_MS });
      await page.getByText("Alt+N следен разговор").waitFor();

      const topics = [
        { radio: "Здравје и ХИВ", label: "Здравје и ХИВ · македонски", first: "Здраво, прашање за тестирање" },
        { radio: "Полиција или правни проблеми", label: "Полиција или правни прашања · македонски", first: "Ме запре полиција вчера" },
        { radio: "Само сакам да разговарам", label: "Само разговор · македонски", first: "Само сакам некој да ме слушне" },
      ];
      const visitors = [];
      for (const [i, topic] of topics.entries()) {
        const v = await newContext({ width: 360, height: 740 }, srv.origin);
        contexts.push(v);
        visitors.push(v);
        await v.page.goto(`${srv.origin}/`);
        await v.page.getByRole("button", { name: "Македонски" }).click();
        await v.page.getByRole("button", { name: "Разбирам, продолжи" }).click();
        await v.page.getByRole("radio", { name: topic.radio }).check();
        await v.page.getByRole("button", { name: "Започни разговор" }).click();
        await v.page.getByLabel("Напиши порака").fill(topic.first);
        await v.page.getByRole("button", { name: "Испрати" }).click();

        // The offer: in the one list once, in words, and as a desktop notification without content.
        const offer = page.locator(".work-item.offer", { hasText: topic.label });
        await offer.waitFor({ timeout: STEP_MS });
        assert.equal(await page.locator(".work-item", { hasText: topic.label }).count(), 1, "the ticket is listed once");
        const shown = await notifications();
        assert.ok(
          shown.some((n) => n.title === "Нов понуден разговор" && n.body.includes(topic.label)),
          `a notification for the offer: ${JSON.stringify(shown)}`,
        );
        assert.ok(shown.every((n) => !n.body.includes(topic.first)), "no content in a notification");
        // The tab is in front: no counter in the title.
        assert.doesNotMatch(await page.title(), /^\(\d+\)/);

        // Alt+A accepts it; the visitor's message arrives in the chat that opens.
        await page.keyboard.press("Alt+KeyA");
        await page.locator(".conversation-pane h2", { hasText: topic.label }).waitFor({ timeout: STEP_MS });
        await page.locator(".line.theirs", { hasText: topic.first }).waitFor({ timeout: STEP_MS });
        if (i === 0) {
          // Alt+R: a canned reply by keyboard (arrow to try one, Enter back to the draft, Enter sends).
          await page.keyboard.press("Alt+KeyR");
          await page.keyboard.press("ArrowDown");
          await page.keyboard.press("Enter");
          assert.match(await page.getByRole("textbox", { name: "Порака" }).inputValue(), /^Здраво, јас сум советник/);
          await page.keyboard.press("Enter");
          await v.page.locator(".line.theirs", { hasText: "Здраво, јас сум советник" }).waitFor({ timeout: STEP_MS });
        } else {
          await page.getByRole("textbox", { name: "Порака" }).fill(`Тука сум, ${i + 1}.`);
          await page.keyboard.press("Enter");
          await v.page.locator(".line.theirs", { hasText: `Тука сум, ${i + 1}.` }).waitFor({ timeout: STEP_MS });
        }
      }

      // All three write again; the list shows previews, unread counts and who waits longest on top.
      await page.locator(".back").evaluate((b) => b.click());
      for (const [i, v] of visitors.entries()) {
        await v.page.getByLabel("Напиши порака").fill(`Втора порака ${i + 1}`);
        await v.page.getByRole("button", { name: "Испрати" }).click();
        await page.locator("button.conversation .preview", { hasText: `Втора порака ${i + 1}` }).waitFor({ timeout: STEP_MS });
      }
      const rows = await page.locator("button.conversation .title").allTextContents();
      assert.deepEqual(rows, topics.map((t) => t.label), "the one who wrote first waits longest and is on top");
      assert.equal(await page.locator("button.conversation .unread").count(), 3);
      assert.match(await page.locator("button.conversation .row-meta").first().textContent(), /пишала пред/);

      // SOS from the second visitor: a notification, and her chat goes to the top.
      await visitors[1].page.getByRole("button", { name: "Во опасност сум сега" }).first().click();
      await page.locator(".work-item.urgent", { hasText: topics[1].label }).waitFor({ timeout: STEP_MS });
      await page.waitForFunction(() => window.__notifications.some((n) => n.tag === "sos"), undefined, { timeout: STEP_MS });
      assert.equal(await page.locator("button.conversation .title").first().textContent(), topics[1].label);
      assert.deepEqual(await unlabelled(page), []);
      await shot(page, "console-mk-1280-list.png");

      // Alt+N walks the open chats in list order.
      const seen = [];
      for (let n = 0; n < 3; n++) {
        const before = seen.at(-1) ?? "";
        await page.keyboard.press("Alt+KeyN");
        await page.waitForFunction((prev) => {
          const h = document.querySelector(".conversation-pane h2");
          return h !== null && h.textContent !== prev;
        }, before);
        seen.push(await page.locator(".conversation-pane h2").textContent());
      }
      assert.equal(seen[0], topics[1].label, `Alt+N starts at the top of the list (the SOS): ${seen}`);
      assert.deepEqual([...seen].sort(), topics.map((t) => t.label).sort(), "Alt+N visits every chat once");
      await shot(page, "console-mk-1280-chat.png");

      // The phone: chat-first; the list behind a back button; the circle form not in front of the chat.
      await page.setViewportSize({ width: 360, height: 740 });
      assert.equal(await page.locator(".side").isVisible(), false, "with a chat open, the list is hidden");
      assert.equal(await page.getByLabel("Име на групата").isVisible(), false, "the circle form is not in front of the chat");
      await page.getByRole("textbox", { name: "Порака" }).waitFor();
      const box = await page.getByRole("textbox", { name: "Порака" }).boundingBox();
      assert.ok(box !== null && box.y + box.height <= 740, `the message box is on the first screen (${JSON.stringify(box)})`);
      await shot(page, "console-mk-360-chat.png");
      await page.getByRole("button", { name: "← Сите разговори" }).click();
      await page.locator(".side").waitFor();
      assert.equal(await page.locator(".pane").isVisible(), false);
      await shot(page, "console-mk-360-list.png");
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= 360, `no sideways scrolling at 360 px (${scrollWidth})`);
      await page.setViewportSize({ width: 1280, height: 800 });

      // A transfer by name: Vesna comes on shift; Mila gives her the third chat with a note, which
      // Vesna reads inside that chat.
      const colleague = await newContext({ width: 1280, height: 800 }, srv.origin);
      contexts.push(colleague);
      await colleague.page.goto(`${srv.origin}/console.html`);
      await colleague.page.getByLabel("Username").fill(vesna.username);
      await colleague.page.getByLabel("Password").fill(vesna.password);
      await colleague.page.getByRole("button", { name: "Log in" }).click();
      await colleague.page.getByRole("button", { name: "Available" }).click();
      await colleague.page.locator('button[aria-pressed="true"]', { hasText: "Available" }).waitFor({ timeout: STEP_MS });
      await page.locator("button.conversation", { hasText: topics[2].label }).click();
      await page.getByRole("button", { name: "Префрли", exact: true }).click();
      await page.getByLabel(/Белешка за предавање/).fill("Мирна, сака само да разговара.");
      const picker = page.getByLabel("Дај му/ѝ на");
      await picker.locator("option", { hasText: "Весна" }).waitFor({ state: "attached", timeout: STEP_MS });
      const option = (await picker.locator("option", { hasText: "Весна" }).textContent()).trim();
      assert.match(option, /^Весна · Примам разговори · 0\/4 разговори$/);
      await picker.selectOption({ label: option });
      await page.screenshot({ path: `${ARTIFACTS_DIR}/console-mk-1280-transfer-by-name.png` });
      await page.getByRole("button", { name: "Префрли го разговорот" }).click();
      await colleague.page.locator("button.conversation", { hasText: "Just to talk" }).click({ timeout: STEP_MS });
      await colleague.page.locator(".line.system", { hasText: "Hand-over note from Мила: Мирна, сака само да разговара." }).waitFor({ timeout: STEP_MS });
      await page.locator(".line.system", { hasText: "Веќе не си во овој разговор." }).waitFor({ timeout: STEP_MS });
      await shot(colleague.page, "console-en-1280-after-transfer.png");

      // Alt+C closes each chat left: a tag by keyboard, Enter; the visitor sees it ended.
      for (const [i, topic] of topics.slice(0, 2).entries()) {
        await page.locator("button.conversation", { hasText: topic.label }).click();
        await page.locator(".conversation-pane h2", { hasText: topic.label }).waitFor();
        await page.getByRole("button", { name: "Затвори", exact: true }).waitFor();
        await page.keyboard.press("Alt+KeyC");
        await page.getByLabel("Ознака на темата").waitFor();
        assert.ok(await page.getByLabel("Ознака на темата").evaluate((el) => el === document.activeElement), "the tag has the focus");
        const tags = await page.getByLabel("Ознака на темата").locator("option").allTextContents();
        assert.ok(tags.includes("Поддршка"), "tags in words");
        assert.ok(tags.includes("Упатена во служба"), `the deployment's own label: ${tags}`);
        await page.keyboard.press("Enter");
        await page.locator(".line.system", { hasText: "Затворено (Поддршка)." }).waitFor({ timeout: STEP_MS });
        await visitors[i].page.locator("h1", { hasText: "Разговорот заврши." }).waitFor({ state: "attached", timeout: STEP_MS });
      }
      assert.equal(await page.locator("button.conversation .row-meta", { hasText: "завршен" }).count(), 3);
      await shot(page, "console-mk-1280-closed.png");
      // Nothing English left on the Macedonian screen's own words.
      const text = await page.locator(".console").innerText();
      for (const english of ["Available", "Accept", "Log out", "Waiting", "Close the chat", "unread", "Conversations", "Queue"]) {
        assert.ok(!text.includes(english), `English "${english}" on the Macedonian console`);
      }
      for (const ctx of contexts) assert.deepEqual(ctx.log.problems, [], "no page errors");
    } finally {
      await rm(LABELS_FILE, { force: true });
      for (const ctx of contexts) await ctx.context.close().catch(() => {});
      await srv.stop();
    }
  });
}
