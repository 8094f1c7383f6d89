// The Settings page: the send policy of proactive messages (time zone, quiet hours, caps), each
// channel's STOP and START words (edited per channel: PATCH /api/v1/channels/{id}), and the
// export of the whole workspace. Roles that may read but not change settings see the forms
// disabled, with the reason.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { api, authorizedFetch, errorOf, errorText, type Schemas } from "../../api/client";
import { useCan, useRole } from "../../api/perms";
import { saveBlob } from "../../ui/download";
import { Page } from "../../ui/Page";

type Policy = Schemas["NudgePolicy"];
type Channel = Schemas["Channel"];

function zones(current: string): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  const all = intl.supportedValuesOf?.("timeZone") ?? [];
  const list = all.includes("UTC") ? all : ["UTC", ...all];
  return current && !list.includes(current) ? [current, ...list] : list;
}

export default function Settings() {
  const can = useCan();
  const role = useRole();
  const canWrite = can("settings.write");
  const canExport = can("workspace.export");
  return (
    <Page title="Settings">
      <p className="lead">How and when coachwire may write to people first, the words that stop it, and your workspace&apos;s data.</p>
      <PolicyPanel canWrite={canWrite} role={role} />
      <StopWordsPanel canWrite={canWrite} role={role} />
      <ExportPanel canExport={canExport} role={role} />
    </Page>
  );
}

function PolicyPanel({ canWrite, role }: { canWrite: boolean; role: string }) {
  const [saved, setSaved] = useState<Policy | null>(null);
  const [form, setForm] = useState<Policy | null>(null);
  const [loadError, setLoadError] = useState("");
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const p = await api("get", "/api/v1/nudge-policy");
      setSaved(p);
      setForm(p);
      setLoadError("");
    } catch (e) {
      setLoadError(errorText(e));
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!form) return;
    setBusy(true);
    setError("");
    setNotice("");
    try {
      const p = await api("put", "/api/v1/nudge-policy", { body: form });
      setSaved(p);
      setForm(p);
      setNotice("The send policy is saved and applies to the next message.");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const set = <K extends keyof Policy>(k: K, v: Policy[K]) => setForm((f) => (f ? { ...f, [k]: v } : f));
  const changed = form && saved && JSON.stringify(form) !== JSON.stringify(saved);
  const noQuiet = form && form.quiet_start === form.quiet_end;

  return (
    <section className="panel" aria-labelledby="policy-title">
      <div className="panel-head">
        <h2 id="policy-title">Send policy</h2>
      </div>
      <p className="hint">
        Applies to campaigns and programs, never to replies. Quiet hours are in each person&apos;s own time zone when it is known,
        else in the workspace&apos;s.
      </p>
      {loadError && (
        <p className="form-error" role="alert">
          {loadError} Reload the page to try again.
        </p>
      )}
      {!form && !loadError && <p className="page-loading">Loading the send policy…</p>}
      {form && (
        <form onSubmit={submit} noValidate className="policy-form">
          <fieldset disabled={!canWrite || busy} aria-describedby={!canWrite ? "policy-disabled" : undefined}>
            <legend className="visually-hidden">Send policy</legend>
            {!canWrite && (
              <p className="hint" id="policy-disabled">
                Your role ({role}) can see the send policy but not change it: owners and admins can.
              </p>
            )}
            <div className="policy-grid">
              <div className="field">
                <label htmlFor="policy-timezone">Workspace time zone</label>
                <select id="policy-timezone" value={form.timezone} onChange={(e) => set("timezone", e.target.value)}>
                  {zones(form.timezone).map((z) => (
                    <option key={z} value={z}>
                      {z}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor="policy-quiet-start">Quiet from</label>
                <input id="policy-quiet-start" type="time" required value={form.quiet_start} onChange={(e) => set("quiet_start", e.target.value)} aria-describedby="policy-quiet-hint" />
              </div>
              <div className="field">
                <label htmlFor="policy-quiet-end">Quiet until</label>
                <input id="policy-quiet-end" type="time" required value={form.quiet_end} onChange={(e) => set("quiet_end", e.target.value)} aria-describedby="policy-quiet-hint" />
              </div>
              <div className="field">
                <label htmlFor="policy-cap-day">At most per day</label>
                <input
                  id="policy-cap-day"
                  type="number"
                  inputMode="numeric"
                  min={0}
                  max={100}
                  value={form.cap_day}
                  onChange={(e) => set("cap_day", Number(e.target.value))}
                  aria-describedby="policy-cap-hint"
                />
              </div>
              <div className="field">
                <label htmlFor="policy-cap-week">At most per 7 days</label>
                <input
                  id="policy-cap-week"
                  type="number"
                  inputMode="numeric"
                  min={0}
                  max={700}
                  value={form.cap_week}
                  onChange={(e) => set("cap_week", Number(e.target.value))}
                  aria-describedby="policy-cap-hint"
                />
              </div>
            </div>
            <p className="hint" id="policy-quiet-hint">
              {noQuiet
                ? "The same start and end: no quiet hours."
                : "A start after the end spans midnight (22:00 to 08:00 is the night). Messages due in quiet hours wait until they end."}
            </p>
            <p className="hint" id="policy-cap-hint">
              Proactive messages per person, across campaigns and programs. 0 leaves only the platform&apos;s own ceiling.
            </p>
            {error && (
              <p className="form-error" role="alert" id="policy-error">
                {error}
              </p>
            )}
            {notice && (
              <p className="notice" role="status">
                {notice}
              </p>
            )}
            <div className="form-actions">
              <button type="submit" className="button primary" disabled={!changed}>
                {busy ? "Saving…" : "Save send policy"}
              </button>
              {changed && (
                <button type="button" className="button secondary" onClick={() => setForm(saved)}>
                  Undo changes
                </button>
              )}
            </div>
          </fieldset>
        </form>
      )}
    </section>
  );
}

// The limits of opt words (internal/channels/setup: MaxOptWords, MaxOptWordChars).
const maxWords = 20;
const maxWordChars = 32;

/** The words of a comma-separated field, as the API compares them: trimmed, without a leading "/" or surrounding "." and "!", upper case. */
function wordsOf(s: string): string[] {
  return s
    .split(",")
    .map((w) => w.trim().replace(/^[.!]+|[.!]+$/g, "").replace(/^\//, "").toUpperCase())
    .filter((w) => w !== "");
}

/** Why a word list is refused (the API's rules), or "". */
function wordsProblem(words: string[], stop: boolean): string {
  if (words.length > maxWords) return `At most ${maxWords} words (there are ${words.length}).`;
  const seen = new Set<string>();
  for (const w of words) {
    if (/\s/.test(w)) return `"${w}" is not a single word: separate words with commas.`;
    if ([...w].length > maxWordChars) return `"${w}" is longer than ${maxWordChars} characters.`;
    if (seen.has(w)) return `${w} is in the list twice.`;
    seen.add(w);
  }
  if (stop && !seen.has("STOP")) return "STOP must stay in the list: the law requires STOP to opt people out.";
  if (!stop && words.length === 0) return "Add at least one word, or people who stopped could not come back.";
  return "";
}

function StopWordsPanel({ canWrite, role }: { canWrite: boolean; role: string }) {
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api("get", "/api/v1/channels")
      .then((out) => setChannels(out.channels ?? []))
      .catch((e) => setError(errorText(e)));
  }, []);
  const saved = (c: Channel) => setChannels((cs) => (cs ? cs.map((x) => (x.id === c.id ? c : x)) : cs));
  return (
    <section className="panel" aria-labelledby="stop-title">
      <div className="panel-head">
        <h2 id="stop-title">STOP words</h2>
      </div>
      <p className="hint">
        A person who sends one of these words, alone, gets no more campaigns or programs until they send a start word. Replies to
        their own questions continue. Case, a leading &quot;/&quot; (Telegram&apos;s /stop) and a final &quot;.&quot; or &quot;!&quot; do not
        matter. A change applies from the next message.
      </p>
      {!canWrite && (
        <p className="hint" id="stop-disabled">
          Your role ({role}) can see the words but not change them: owners and admins can.
        </p>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {channels && channels.length === 0 && (
        <p className="empty-inline">
          No WhatsApp or Telegram channel yet: the web widget has no proactive messages. Channels you add understand STOP, UNSUBSCRIBE,
          STOPALL, CANCEL, END and QUIT, and START, UNSTOP and SUBSCRIBE; you can change them here once a channel is added.
        </p>
      )}
      {channels && channels.length > 0 && (
        <ul className="stop-list">
          {channels.map((c) => (
            <li key={c.id} data-channel={c.id}>
              <ChannelWords channel={c} canWrite={canWrite} onSaved={saved} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

type WordField = "opt_out_words" | "opt_in_words";

function ChannelWords({ channel: c, canWrite, onSaved }: { channel: Channel; canWrite: boolean; onSaved: (c: Channel) => void }) {
  const initial = { opt_out_words: (c.opt_out_words ?? []).join(", "), opt_in_words: (c.opt_in_words ?? []).join(", ") };
  const [form, setForm] = useState(initial);
  const [errors, setErrors] = useState<Partial<Record<WordField, string>>>({});
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement | null>(null);
  const name = c.name || (c.type === "whatsapp" ? "WhatsApp" : "Telegram");
  const base = "words-" + c.id;
  const changed = form.opt_out_words !== initial.opt_out_words || form.opt_in_words !== initial.opt_in_words;

  const focusInvalid = () => setTimeout(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    setNotice("");
    const out = wordsOf(form.opt_out_words);
    const inw = wordsOf(form.opt_in_words);
    const errs: Partial<Record<WordField, string>> = {};
    const pOut = wordsProblem(out, true);
    const pIn = wordsProblem(inw, false);
    if (pOut) errs.opt_out_words = pOut;
    if (pIn) errs.opt_in_words = pIn;
    const both = out.find((w) => inw.includes(w));
    if (!pOut && !pIn && both) errs.opt_in_words = `${both} is also a stop word: a word can only stop or start.`;
    setErrors(errs);
    if (errs.opt_out_words || errs.opt_in_words) {
      focusInvalid();
      return;
    }
    setBusy(true);
    try {
      const saved = await api("patch", "/api/v1/channels/{id}", { path: { id: c.id }, body: { opt_out_words: out, opt_in_words: inw } });
      onSaved(saved);
      setForm({ opt_out_words: (saved.opt_out_words ?? []).join(", "), opt_in_words: (saved.opt_in_words ?? []).join(", ") });
      setNotice(`The words of ${name} are saved: the next message uses them.`);
    } catch (err) {
      // "opt_out_words: …" names the field the API refused.
      const text = errorText(err);
      const m = /^(opt_out_words|opt_in_words): (.*)$/s.exec(text);
      if (m) {
        setErrors({ [m[1] as WordField]: m[2].charAt(0).toUpperCase() + m[2].slice(1) });
        focusInvalid();
      } else setError(text);
    } finally {
      setBusy(false);
    }
  };

  const field = (k: WordField, label: string, hint: string) => {
    const id = `${base}-${k === "opt_out_words" ? "stop" : "start"}`;
    const described = [id + "-hint", errors[k] ? id + "-error" : ""].filter(Boolean).join(" ");
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <input
          id={id}
          type="text"
          autoComplete="off"
          spellCheck={false}
          value={form[k]}
          onChange={(e) => {
            const v = e.target.value;
            setForm((f) => ({ ...f, [k]: v }));
            setErrors((x) => ({ ...x, [k]: undefined }));
            setNotice("");
          }}
          aria-invalid={errors[k] ? true : undefined}
          aria-describedby={described}
          data-words={k}
        />
        <p className="hint" id={id + "-hint"}>
          {hint}
        </p>
        {errors[k] && (
          <p className="field-error" id={id + "-error"}>
            {errors[k]}
          </p>
        )}
      </div>
    );
  };

  return (
    <form ref={formRef} onSubmit={submit} noValidate className="words-form" aria-labelledby={base + "-title"}>
      <h3 id={base + "-title"}>{name}</h3>
      <fieldset disabled={!canWrite || busy} aria-describedby={!canWrite ? "stop-disabled" : undefined}>
        <legend className="visually-hidden">STOP and START words of {name}</legend>
        {field("opt_out_words", "Stop words", `Separated by commas; STOP always stays. At most ${maxWords} words of ${maxWordChars} characters.`)}
        {field("opt_in_words", "Start words", "Separated by commas; they bring a person who stopped back.")}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        {canWrite && (
          <div className="form-actions">
            <button type="submit" className="button primary" disabled={!changed}>
              {busy ? "Saving…" : `Save words of ${name}`}
            </button>
            {changed && (
              <button
                type="button"
                className="button secondary"
                onClick={() => {
                  setForm(initial);
                  setErrors({});
                }}
              >
                Undo changes
              </button>
            )}
          </div>
        )}
      </fieldset>
    </form>
  );
}

function ExportPanel({ canExport, role }: { canExport: boolean; role: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const download = async () => {
    setBusy(true);
    setError("");
    setDone("");
    try {
      const res = await authorizedFetch("/api/v1/export", { headers: { Accept: "application/zip" } });
      if (!res.ok) throw await errorOf(res);
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? "coachwire-export.zip";
      const blob = await res.blob();
      saveBlob(blob, name);
      setDone(`Downloaded ${name} (${(blob.size / 1024).toFixed(1)} KB).`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="export-title">
      <div className="panel-head">
        <h2 id="export-title">Export your data</h2>
      </div>
      <p className="hint">
        One ZIP file with this workspace&apos;s settings, members, documents&apos; details (not their files), the people who wrote to your
        coach, every conversation and message, campaigns and programs. Passwords, channel credentials and key secrets are never in it.
      </p>
      {!canExport && (
        <p className="hint" id="export-disabled">
          Your role ({role}) cannot export the workspace: owners and admins can.
        </p>
      )}
      <button
        type="button"
        className="button primary"
        onClick={download}
        disabled={!canExport || busy}
        aria-describedby={!canExport ? "export-disabled" : undefined}
        data-export=""
      >
        {busy ? "Preparing the export…" : "Download export (ZIP)"}
      </button>
      {error && (
        <p className="form-error export-result" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="notice export-result" role="status">
          {done}
        </p>
      )}
    </section>
  );
}
