// The Coach & widget page: the coach as the widget shows it (name, persona, greeting, avatar,
// suggested questions, branding), the widget's look (colour, corner, theme, language, launcher
// text), where it may be embedded (allowed origins, verified identities), all saved in the widget
// settings; a live preview of the real widget beside the form and the embed snippet to copy.
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { api, errorText, type Schemas } from "../../api/client";
import { useCan } from "../../api/perms";
import { Page } from "../../ui/Page";
import { CopyButton, Field, placeError, useFocusFirstInvalid, type FieldErrors } from "./form";
import { WidgetPreview, type PreviewDraft } from "./Preview";

type Settings = Schemas["WidgetSettings"];

/** The form: the API's settings as the inputs hold them. */
interface CoachForm {
  name: string;
  persona: string;
  welcome: string;
  avatar_url: string;
  suggestions: string[]; // always 4 inputs
  branding: boolean;
  link_sources: boolean;
  allowed_origins: string; // one per line
  identity_required: boolean;
  // The widget's look ("" in the API: the widget's default, shown here as that default).
  color: string;
  position: "right" | "left";
  theme: "light" | "dark" | "auto";
  language: string;
  launcher_text: string;
  // The installable app's slug: its address is /a/<slug>/ (docs/app.md).
  app_slug: string;
}

const defaultColor = "#2563eb";
const maxSuggestions = 4;
export const languages: [string, string][] = [
  ["", "The page's language"],
  ["en", "English"],
  ["es", "Español"],
  ["pt", "Português"],
  ["fr", "Français"],
  ["de", "Deutsch"],
];

const fields = ["name", "persona", "welcome", "avatar_url", "suggestions", "allowed_origins", "identity_required", "branding", "link_sources",
  "color", "position", "theme", "language", "launcher_text", "app_slug"];
const errorFields: Record<string, string> = {
  bad_color: "color",
  bad_position: "position",
  bad_theme: "theme",
  bad_language: "language",
  bad_launcher_text: "launcher_text",
  invalid_name: "name",
  persona_too_long: "persona",
  welcome_too_long: "welcome",
  bad_avatar_url: "avatar_url",
  bad_suggestion: "suggestions",
  too_many_suggestions: "suggestions",
  bad_origin: "allowed_origins",
  too_many_origins: "allowed_origins",
  bad_app_slug: "app_slug",
  app_slug_taken: "app_slug",
};

function formOf(s: Settings): CoachForm {
  const sg = [...(s.suggestions ?? [])];
  while (sg.length < maxSuggestions) sg.push("");
  return {
    name: s.name,
    persona: s.persona,
    welcome: s.welcome ?? "",
    avatar_url: s.avatar_url ?? "",
    suggestions: sg.slice(0, maxSuggestions),
    branding: s.branding !== false,
    link_sources: !!s.link_sources,
    allowed_origins: s.allowed_origins.join("\n"),
    identity_required: s.identity_required,
    color: s.color || defaultColor,
    position: s.position === "left" ? "left" : "right",
    theme: s.theme === "dark" || s.theme === "auto" ? s.theme : "light",
    language: s.language ?? "",
    launcher_text: s.launcher_text ?? "",
    app_slug: s.app_slug ?? "",
  };
}

function bodyOf(f: CoachForm): Schemas["WidgetSettingsPatch"] {
  return {
    name: f.name,
    persona: f.persona,
    welcome: f.welcome,
    avatar_url: f.avatar_url.trim(),
    suggestions: f.suggestions.map((s) => s.trim()).filter(Boolean),
    branding: f.branding,
    link_sources: f.link_sources,
    allowed_origins: f.allowed_origins
      .split(/[\n,]/)
      .map((o) => o.trim())
      .filter(Boolean),
    identity_required: f.identity_required,
    color: f.color.trim().toLowerCase(),
    position: f.position,
    theme: f.theme,
    language: f.language as Schemas["WidgetSettingsPatch"]["language"],
    launcher_text: f.launcher_text.trim(),
    app_slug: f.app_slug.trim().toLowerCase(),
  };
}

/** The API takes #rrggbb. */
const validColor = (c: string) => /^#[0-9a-f]{6}$/i.test(c.trim());

/** The embed snippet: the look comes with the settings, so the key is all it needs. */
export function snippetOf(widgetKey: string): string {
  return `<script src="${window.location.origin}/widget.js" data-widget-key="${widgetKey}" async></script>`;
}

export default function Coach() {
  // Saving needs coach.write (editor and up); other roles may still try changes in the preview.
  const canWrite = useCan()("coach.write");
  const [saved, setSaved] = useState<Settings | null>(null);
  const [form, setForm] = useState<CoachForm | null>(null);
  const [loadError, setLoadError] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState("");
  const [notice, setNotice] = useState("");
  const [saving, setSaving] = useState(false);
  const [phone, setPhone] = useState(false);
  const [showSecret, setShowSecret] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusFirstInvalid(errors, formRef);

  const load = async () => {
    setLoadError("");
    try {
      const s = await api("get", "/api/v1/widget/settings");
      setSaved(s);
      setForm(formOf(s));
    } catch (e) {
      setLoadError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const widgetKey = saved?.widget_key ?? "";

  const dirty = useMemo(() => !!(form && saved && JSON.stringify(bodyOf(form)) !== JSON.stringify(bodyOf(formOf(saved)))), [form, saved]);
  const colorError = form && !validColor(form.color) ? "Not a colour yet: use # and six hex digits, for example #0f766e." : "";

  const draft: PreviewDraft | null = useMemo(
    () =>
      form && {
        coach: {
          name: form.name.trim(),
          avatar_url: form.avatar_url.trim(),
          welcome: form.welcome,
          suggestions: form.suggestions.map((s) => s.trim()).filter(Boolean),
          branding: form.branding,
        },
        color: validColor(form.color) ? form.color.trim() : "",
        position: form.position,
        theme: form.theme,
        lang: form.language,
        "launcher-text": form.launcher_text.trim(),
      },
    [form],
  );

  const set = <K extends keyof CoachForm>(k: K, v: CoachForm[K]) => {
    setForm((f) => (f ? { ...f, [k]: v } : f));
    setNotice("");
    if (errors[k]) setErrors(({ [k]: _, ...rest }) => rest);
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!form || !canWrite) return;
    setSaving(true);
    setErrors({});
    setFormError("");
    setNotice("");
    try {
      const s = await api("patch", "/api/v1/widget/settings", { body: bodyOf(form) });
      setSaved(s);
      setForm(formOf(s));
      setNotice("Saved. Sites with the widget show the new settings from their visitors' next session.");
    } catch (err) {
      const p = placeError(err, errorFields, fields);
      if (p.field) setErrors({ [p.field]: p.text });
      else setFormError(p.text);
    } finally {
      setSaving(false);
    }
  };

  if (loadError) {
    return (
      <Page title="Coach & widget">
        <div className="form-error" role="alert">
          <p>The settings could not be loaded: {loadError}</p>
          <button type="button" className="button secondary" onClick={() => void load()}>
            Try again
          </button>
        </div>
      </Page>
    );
  }
  if (!form || !saved || !draft) {
    return (
      <Page title="Coach & widget">
        <p className="page-loading" role="status">
          Loading the settings…
        </p>
      </Page>
    );
  }

  const snippet = snippetOf(widgetKey);
  return (
    <Page title="Coach & widget">
      <p className="lead">
        How your coach introduces itself and how the chat widget looks on your site. The preview shows your changes as you type, before
        you save; questions asked in it are answered from your documents.
      </p>
      <div className="coach-grid">
        <form ref={formRef} className="coach-form" onSubmit={save} noValidate aria-label="Coach and widget settings">
          {formError && (
            <div className="form-error" role="alert">
              <p>{formError}</p>
            </div>
          )}
          <section className="panel" aria-labelledby="coach-h">
            <h2 id="coach-h">The coach</h2>
            <Field id="coach-name" label="Name" hint="Shown as the widget's title and beside replies." error={errors.name}>
              {(p) => <input {...p} type="text" value={form.name} maxLength={200} autoComplete="off" onChange={(e) => set("name", e.target.value)} />}
            </Field>
            <Field id="coach-welcome" label="Greeting" hint="The coach's first message (Markdown, up to 1000 characters)." error={errors.welcome}>
              {(p) => <textarea {...p} rows={3} value={form.welcome} onChange={(e) => set("welcome", e.target.value)} />}
            </Field>
            <Field
              id="coach-persona"
              label="Persona"
              hint="How the coach speaks and what it focuses on; the model follows it. Not shown to visitors."
              error={errors.persona}
            >
              {(p) => <textarea {...p} rows={4} value={form.persona} onChange={(e) => set("persona", e.target.value)} />}
            </Field>
            <Field
              id="coach-avatar"
              label="Avatar image URL"
              hint="An https image; leave empty to show the coach's initials."
              error={errors.avatar_url}
            >
              {(p) => (
                <input {...p} type="url" inputMode="url" value={form.avatar_url} placeholder="https://…" onChange={(e) => set("avatar_url", e.target.value)} />
              )}
            </Field>
            <fieldset className="group" aria-describedby={errors.suggestions ? "coach-sg-error" : "coach-sg-hint"}>
              <legend>Suggested first questions</legend>
              <p className="hint" id="coach-sg-hint">
                Up to four buttons before the first message (120 characters each). Without any, the widget offers your largest documents' titles.
              </p>
              {form.suggestions.map((q, i) => (
                <div className="field compact" key={i}>
                  <label htmlFor={"coach-sg-" + i} className="visually-hidden">
                    Suggestion {i + 1}
                  </label>
                  <input
                    id={"coach-sg-" + i}
                    type="text"
                    value={q}
                    maxLength={120}
                    placeholder={`Suggestion ${i + 1}`}
                    aria-invalid={errors.suggestions ? true : undefined}
                    onChange={(e) => {
                      const next = [...form.suggestions];
                      next[i] = e.target.value;
                      set("suggestions", next);
                    }}
                  />
                </div>
              ))}
              {errors.suggestions && (
                <p className="field-error" id="coach-sg-error">
                  {errors.suggestions}
                </p>
              )}
            </fieldset>
            <div className="checks">
              <label className="check">
                <input type="checkbox" checked={form.branding} onChange={(e) => set("branding", e.target.checked)} /> Show “Powered by coachwire”
              </label>
              <label className="check">
                <input type="checkbox" checked={form.link_sources} onChange={(e) => set("link_sources", e.target.checked)} /> Link sources to the
                page a document was imported from
              </label>
            </div>
          </section>

          <section className="panel" aria-labelledby="look-h">
            <h2 id="look-h">The widget's look</h2>
            <p className="hint">Saved with the rest: sites with the widget pick it up without a new snippet (a data- attribute in a page's snippet wins).</p>
            <div className="look-grid">
              <Field id="look-color" label="Accent colour" hint="Bubble, header and send button; the text on it turns black or white." error={errors.color || colorError}>
                {(p) => (
                  <div className="color-row">
                    <input {...p} type="text" value={form.color} spellCheck={false} onChange={(e) => set("color", e.target.value.trim())} />
                    <input
                      type="color"
                      aria-label="Pick the accent colour"
                      value={validColor(form.color) ? form.color.toLowerCase() : defaultColor}
                      onChange={(e) => set("color", e.target.value)}
                    />
                  </div>
                )}
              </Field>
              <Field id="look-position" label="Corner" error={errors.position}>
                {(p) => (
                  <select {...p} value={form.position} onChange={(e) => set("position", e.target.value as CoachForm["position"])}>
                    <option value="right">Bottom right</option>
                    <option value="left">Bottom left</option>
                  </select>
                )}
              </Field>
              <Field id="look-theme" label="Theme" error={errors.theme}>
                {(p) => (
                  <select {...p} value={form.theme} onChange={(e) => set("theme", e.target.value as CoachForm["theme"])}>
                    <option value="light">Light</option>
                    <option value="dark">Dark</option>
                    <option value="auto">The visitor's system setting</option>
                  </select>
                )}
              </Field>
              <Field id="look-lang" label="Language" hint="Of the widget's own texts (buttons, states)." error={errors.language}>
                {(p) => (
                  <select {...p} value={form.language} onChange={(e) => set("language", e.target.value)}>
                    {languages.map(([v, l]) => (
                      <option key={v} value={v}>
                        {l}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <Field
                id="look-launcher"
                label="Launcher text"
                hint="Beside the bubble icon, e.g. “Ask Maya”; empty for the icon alone."
                error={errors.launcher_text}
              >
                {(p) => <input {...p} type="text" value={form.launcher_text} maxLength={40} onChange={(e) => set("launcher_text", e.target.value)} />}
              </Field>
            </div>
          </section>

          <section className="panel" aria-labelledby="access-h">
            <h2 id="access-h">Where it runs</h2>
            <Field
              id="coach-origins"
              label="Allowed origins"
              hint="The sites that may embed the widget, one per line: https://example.com (scheme, host and port only), or * for any site. The console's own preview is always allowed."
              error={errors.allowed_origins}
            >
              {(p) => (
                <textarea
                  {...p}
                  rows={3}
                  value={form.allowed_origins}
                  spellCheck={false}
                  placeholder="https://example.com"
                  onChange={(e) => set("allowed_origins", e.target.value)}
                />
              )}
            </Field>
            <label className="check">
              <input type="checkbox" checked={form.identity_required} onChange={(e) => set("identity_required", e.target.checked)} /> Require
              verified visitors (your server signs each visitor's id with the identity secret)
            </label>
            <Field
              id="coach-app-slug"
              label="App address"
              hint={`Your installable app is at ${window.location.origin}/a/${form.app_slug || "…"}/ (lower-case letters, digits and hyphens). Changing it breaks links to the old address.`}
              error={errors.app_slug}
            >
              {(p) => (
                <input {...p} value={form.app_slug} spellCheck={false} autoComplete="off" maxLength={40} onChange={(e) => set("app_slug", e.target.value)} />
              )}
            </Field>
            {saved.identity_secret && (
              <div className="field secret-row">
                <label htmlFor="coach-secret">Identity secret</label>
                <div className="color-row">
                  <input id="coach-secret" type={showSecret ? "text" : "password"} readOnly value={saved.identity_secret} autoComplete="off" />
                  <button type="button" className="button secondary small" aria-pressed={showSecret} onClick={() => setShowSecret((v) => !v)}>
                    {showSecret ? "Hide" : "Show"}
                  </button>
                </div>
                <p className="hint">Keep it on your server: whoever has it can open the widget as any of your visitors.</p>
              </div>
            )}
          </section>

          <div className="save-bar">
            {canWrite ? (
              <button type="submit" className="button primary" disabled={saving}>
                {saving ? "Saving…" : "Save"}
              </button>
            ) : (
              <p className="hint read-only-reason">Your role can try changes in the preview; saving them is for editors, admins and the owner.</p>
            )}
            <button
              type="button"
              className="button secondary"
              disabled={!dirty || saving}
              onClick={() => {
                setForm(formOf(saved));
                setErrors({});
                setFormError("");
              }}
            >
              Discard changes
            </button>
            <span className="save-state" role="status">
              {notice || (dirty ? "Unsaved changes (shown in the preview)" : "")}
            </span>
          </div>
        </form>

        <aside className="coach-side" aria-labelledby="preview-h">
          <div className="panel preview-panel">
            <div className="panel-head">
              <h2 id="preview-h">Live preview</h2>
              <button type="button" className="button secondary small" aria-pressed={phone} onClick={() => setPhone((v) => !v)}>
                Phone size
              </button>
            </div>
            <WidgetPreview widgetKey={widgetKey} draft={draft} phone={phone} />
          </div>
          <div className="panel">
            <h2 id="embed-h">Embed snippet</h2>
            <p className="hint" id="embed-hint">
              Paste it before <code>&lt;/body&gt;</code> on your pages, and add their origin to Allowed origins. Your settings come with it: a
              change here needs no new snippet.
            </p>
            <pre className="snippet" tabIndex={0} aria-labelledby="embed-h" aria-describedby="embed-hint">
              <code id="embed-snippet">{snippet}</code>
            </pre>
            <CopyButton text={snippet} label="Copy snippet" />
          </div>
          {saved.app_url && (
            <div className="panel">
              <h2 id="app-h">Your app</h2>
              <p className="hint" id="app-hint">
                Send this link to the people you coach: on a phone they can add it to the home screen and get your messages as
                notifications.
              </p>
              <p className="app-link" id="app-link">
                <a href={saved.app_url} target="_blank" rel="noopener">
                  {saved.app_url}
                </a>
              </p>
              <CopyButton text={saved.app_url} label="Copy app link" />
            </div>
          )}
        </aside>
      </div>
    </Page>
  );
}
