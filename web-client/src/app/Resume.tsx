import { useState } from "preact/hooks";

import type { Translate } from "../i18n";
import { decodeResumeCode, encodeResumeCode } from "../visitor/resumeCode";

/** Opt-in: show the code to write down. Nothing is stored; the code is only on screen while open. */
export function ResumeOffer({ t, secret, graceSecs }: { t: Translate; secret: Uint8Array | undefined; graceSecs: number }) {
  const [open, setOpen] = useState(false);
  if (secret === undefined) return null;
  return (
    <div class="resume">
      <button type="button" class="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
        {t("resume.offer")}
      </button>
      {open && (
        <div class="resume-code">
          <p>{t("resume.explain", Math.max(1, Math.floor(graceSecs / 60)))}</p>
          <p class="code" aria-label={t("resume.label")}>
            {encodeResumeCode(secret)}
          </p>
        </div>
      )}
    </div>
  );
}

/** Come back with a written-down code. */
export function ResumeForm({ t, onResume }: { t: Translate; onResume: (secret: Uint8Array) => void }) {
  const [open, setOpen] = useState(false);
  const [code, setCode] = useState("");
  const [invalid, setInvalid] = useState(false);
  return (
    <div class="resume">
      <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {t("resume.have")}
      </button>
      {open && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const secret = decodeResumeCode(code);
            setInvalid(secret === undefined);
            if (secret !== undefined) onResume(secret);
          }}
        >
          <label for="resume-code">{t("resume.label")}</label>
          <input
            id="resume-code"
            class="code-input"
            autoComplete="off"
            autoCapitalize="characters"
            spellcheck={false}
            value={code}
            aria-invalid={invalid}
            aria-describedby={invalid ? "resume-invalid" : undefined}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
          {invalid && (
            <p id="resume-invalid" role="alert">
              {t("resume.invalid")}
            </p>
          )}
          <button type="submit" class="secondary">
            {t("resume.continue")}
          </button>
        </form>
      )}
    </div>
  );
}
