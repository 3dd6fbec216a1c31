import qrcode from "qrcode-generator";
import { useState } from "preact/hooks";

import { ct, languageLabel } from "../i18n/console";
import { formatInvitationCode } from "../protocol";
import type { CircleView, StaffConsole } from "./staff";

/**
 * The link a visitor opens: the visitor page's "type your code" screen. It
 * holds no code, so the code never reaches the phone's browser history; the
 * visitor types the code she was given beside it.
 */
export function invitationLink(origin: string): string {
  return `${origin}/#circle`;
}

/** A QR code as SVG elements (no markup strings: the CSP stays strict). */
export function QrCode({ text, label }: { text: string; label: string }) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  let d = "";
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      if (qr.isDark(row, col)) d += `M${col + 4} ${row + 4}h1v1h-1z`;
    }
  }
  return (
    <svg class="qr" role="img" aria-label={label} viewBox={`0 0 ${n + 8} ${n + 8}`} width="176" height="176">
      <rect width={n + 8} height={n + 8} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}

interface Props {
  staff: StaffConsole;
  circles: CircleView[];
  languages: string[];
  act: (fn: () => Promise<unknown>) => void;
}

/** Circles I moderate: create, invite (code, link, QR), approve, mute, remove, close. */
export function CirclesPanel({ staff, circles, languages, act }: Props) {
  const [name, setName] = useState("");
  const [language, setLanguage] = useState(languages[0] ?? "en");
  const [topic, setTopic] = useState("");
  const [autoApprove, setAutoApprove] = useState(false);
  return (
    <section aria-labelledby="circles-h">
      <h2 id="circles-h">{ct("circles.heading")}</h2>
      <form
        class="circle-new"
        onSubmit={(e) => {
          e.preventDefault();
          act(async () => {
            const view = await staff.createCircle(name.trim(), language, topic.trim(), autoApprove);
            staff.open(view.info.group_id);
            setName("");
            setTopic("");
          });
        }}
      >
        <label>
          {ct("circles.name")} <input value={name} maxLength={80} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          {ct("circles.language")}{" "}
          <select value={language} onChange={(e) => setLanguage(e.currentTarget.value)}>
            {languages.map((l) => (
              <option key={l} value={l}>
                {languageLabel(l)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {ct("circles.topic")} <input value={topic} maxLength={80} required onInput={(e) => setTopic(e.currentTarget.value)} />
        </label>
        <label>
          <input type="checkbox" checked={autoApprove} onChange={(e) => setAutoApprove(e.currentTarget.checked)} />{" "}
          {ct("circles.autoApprove")}
        </label>
        <button type="submit">{ct("circles.create")}</button>
      </form>
      {circles.map((c) => (
        <CircleCard key={c.info.circle_id} staff={staff} view={c} act={act} />
      ))}
    </section>
  );
}

function CircleCard({ staff, view, act }: { staff: StaffConsole; view: CircleView; act: Props["act"] }) {
  const [days, setDays] = useState(7);
  const [uses, setUses] = useState(20);
  const id = view.info.circle_id;
  const live = view.invitations.filter((i) => !i.revoked);
  return (
    <article class="circle-card" aria-label={ct("circles.article", view.info.name)}>
      <h3>
        {view.info.name} <small>({languageLabel(view.info.language)} · {view.info.topic})</small>
      </h3>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act(() => staff.createInvitation(id, days, uses));
        }}
      >
        <label>
          {ct("circles.days")} <input type="number" min={1} max={30} value={days} onInput={(e) => setDays(Number(e.currentTarget.value))} />
        </label>
        <label>
          {ct("circles.uses")} <input type="number" min={1} max={1000} value={uses} onInput={(e) => setUses(Number(e.currentTarget.value))} />
        </label>
        <button type="submit">{ct("circles.newInvitation")}</button>
      </form>
      <ul class="invitations">
        {live.map((i) => (
          <li key={i.invitation_id}>
            {i.code !== undefined && (
              <>
                <p>
                  {ct("circles.code")} <code class="invitation-code">{formatInvitationCode(i.code)}</code>
                </p>
                <p>
                  {ct("circles.link")} <code class="invitation-link">{invitationLink(location.origin)}</code>
                </p>
                <QrCode text={invitationLink(location.origin)} label={ct("circles.qr")} />
              </>
            )}
            <p class="muted small">
              {ct("circles.until", new Date(i.expires_at * 1000).toLocaleString(), i.max_uses)}
            </p>
            <button type="button" onClick={() => act(() => staff.revokeInvitation(id, i.invitation_id))}>
              {ct("circles.revoke")}
            </button>
          </li>
        ))}
      </ul>
      <h4>{ct("circles.asking")}</h4>
      {view.requests.length === 0 && <p class="muted">{ct("circles.nobody")}</p>}
      <ul class="join-requests">
        {view.requests.map((r) => (
          <li key={r.request_id}>
            <span class="join-name">{r.display_name}</span>{" "}
            <button type="button" onClick={() => act(() => staff.approve(id, r.request_id))}>
              {ct("circles.letIn", r.display_name)}
            </button>{" "}
            <button type="button" onClick={() => act(() => staff.decline(id, r.request_id))}>
              {ct("circles.decline")}
            </button>
          </li>
        ))}
      </ul>
      <h4>{ct("circles.members")}</h4>
      <ul class="circle-members">
        {view.members.map((m) => (
          <li key={m.key}>
            {m.name} {m.muted && <em>{ct("circles.muted")}</em>}{" "}
            <button type="button" onClick={() => act(() => staff.setMuted(id, m.key, !m.muted))}>
              {m.muted ? ct("circles.unmute", m.name) : ct("circles.mute", m.name)}
            </button>{" "}
            <button type="button" onClick={() => act(() => staff.removeFromCircle(id, m.key))}>
              {ct("circles.remove", m.name)}
            </button>
          </li>
        ))}
      </ul>
      <button
        type="button"
        class="danger"
        onClick={() => {
          // It ends the circle for everyone and deletes its messages: not on one click.
          if (window.confirm(ct("circles.closeConfirm", view.info.name))) act(() => staff.closeCircle(id));
        }}
      >
        {ct("circles.close")}
      </button>
    </article>
  );
}
