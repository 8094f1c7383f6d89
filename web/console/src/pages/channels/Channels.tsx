// The Channels page: the creator's WhatsApp numbers and Telegram bots. Adding one checks its
// credentials with the provider before anything is saved (the provider's refusal shows next to
// the field it is about); secrets are never shown again once saved (the API does not return
// them). Each channel can be tested (the provider is asked again with the stored credentials)
// and removed after a confirmation. The webhook URL and the verify token are shown where the
// creator must paste them at Meta.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, errorText, type Schemas } from "../../api/client";
import { useCan } from "../../api/perms";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { Page } from "../../ui/Page";
import { CopyButton, Field, placeError, useFocusFirstInvalid, type FieldErrors } from "../coach/form";

type Channel = Schemas["Channel"];
type ChannelTest = Schemas["ChannelTest"];
type Kind = "telegram" | "whatsapp";

interface AddForm {
  type: Kind;
  name: string;
  bot_token: string;
  groups_enabled: boolean;
  phone_number_id: string;
  access_token: string;
  app_secret: string;
  verify_token: string;
  template_name: string;
  template_language: string;
}

/** A verify token for Meta's webhook handshake: random, URL-safe. */
function newVerifyToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_");
}

const emptyForm = (type: Kind): AddForm => ({
  type,
  name: "",
  bot_token: "",
  groups_enabled: false,
  phone_number_id: "",
  access_token: "",
  app_secret: "",
  verify_token: type === "whatsapp" ? newVerifyToken() : "",
  template_name: "",
  template_language: "",
});

const fields = ["name", "bot_token", "phone_number_id", "access_token", "app_secret", "verify_token", "api_version", "template"];
const errorFields: Record<string, string> = {
  telegram_rejected: "bot_token",
  whatsapp_token_rejected: "access_token",
  whatsapp_number_rejected: "phone_number_id",
  // The provider did not answer: about the form, not a field (try again).
  telegram_unavailable: "",
  whatsapp_unavailable: "",
  "bad_template.name": "template",
  "bad_template.language": "template",
  "missing_template.name": "template",
  "missing_template.language": "template",
};

const typeName = (t: string) => (t === "whatsapp" ? "WhatsApp" : t === "telegram" ? "Telegram" : t);

export default function Channels() {
  // Adding, testing and removing need settings.write (owner, admin); other roles read the list.
  const canWrite = useCan()("settings.write");
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [loadError, setLoadError] = useState("");
  const [form, setForm] = useState<AddForm>(emptyForm("telegram"));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState("");
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState<Channel | null>(null);
  const [tests, setTests] = useState<Record<string, { busy: boolean; result?: ChannelTest; error?: string }>>({});
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const formRef = useRef<HTMLFormElement>(null);
  const addedRef = useRef<HTMLDivElement>(null);
  useFocusFirstInvalid(errors, formRef);

  const load = async () => {
    setLoadError("");
    try {
      const r = await api("get", "/api/v1/channels");
      setChannels(r.channels ?? []);
    } catch (e) {
      setLoadError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);
  useEffect(() => {
    if (added) addedRef.current?.focus();
  }, [added]);

  const set = <K extends keyof AddForm>(k: K, v: AddForm[K]) => {
    setForm((f) => ({ ...f, [k]: v }));
    const field = k.startsWith("template") ? "template" : k;
    if (errors[field]) setErrors(({ [field]: _, ...rest }) => rest);
  };

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setAdding(true);
    setErrors({});
    setFormError("");
    setAdded(null);
    const f = form;
    const body: Schemas["ChannelIn"] =
      f.type === "telegram"
        ? { type: "telegram", name: f.name.trim(), bot_token: f.bot_token.trim(), groups_enabled: f.groups_enabled, api_version: "", verify: true }
        : {
            type: "whatsapp",
            api_version: "",
            groups_enabled: false,
            name: f.name.trim(),
            phone_number_id: f.phone_number_id.trim(),
            access_token: f.access_token.trim(),
            app_secret: f.app_secret.trim(),
            verify_token: f.verify_token.trim(),
            verify: true,
            ...(f.template_name.trim() || f.template_language.trim()
              ? { template: { name: f.template_name.trim(), language: f.template_language.trim() } }
              : {}),
          };
    try {
      const ch = await api("post", "/api/v1/channels", { body });
      // The secrets leave the page's memory: they are never shown again.
      setForm(emptyForm(f.type));
      setAdded(ch);
      setChannels((list) => [...(list ?? []), ch]);
    } catch (err) {
      const p = placeError(err, errorFields, fields);
      if (p.field) setErrors({ [p.field]: p.text });
      else setFormError(p.text);
    } finally {
      setAdding(false);
    }
  };

  const test = async (ch: Channel) => {
    setTests((t) => ({ ...t, [ch.id]: { busy: true } }));
    try {
      const result = await api("post", "/api/v1/channels/{id}/test", { path: { id: ch.id } });
      setTests((t) => ({ ...t, [ch.id]: { busy: false, result } }));
    } catch (e) {
      setTests((t) => ({ ...t, [ch.id]: { busy: false, error: errorText(e) } }));
    }
  };

  const remove = (ch: Channel) =>
    setConfirm({
      title: `Remove ${ch.name || typeName(ch.type)}?`,
      message:
        ch.type === "telegram"
          ? "The bot's webhook is removed and coachwire stops answering it. Its conversations stay in the inbox."
          : "coachwire stops answering this number (remove the webhook at Meta too). Its conversations stay in the inbox.",
      confirm: "Remove channel",
      danger: true,
      onConfirm: async () => {
        try {
          await api("delete", "/api/v1/channels/{id}", { path: { id: ch.id } });
          setChannels((list) => (list ?? []).filter((c) => c.id !== ch.id));
          if (added?.id === ch.id) setAdded(null);
          setAnnouncement(`${ch.name || typeName(ch.type)} removed.`);
        } catch (e) {
          setAnnouncement("");
          setLoadError(`The channel could not be removed: ${errorText(e)}`);
        }
      },
    });

  return (
    <Page title="Channels">
      <p className="lead">
        Let people talk to your coach on WhatsApp and Telegram. Credentials are checked with WhatsApp or Telegram before they are saved, and
        never shown again afterwards.
      </p>
      <p className="visually-hidden" role="status">
        {announcement}
      </p>

      <section className="panel" aria-labelledby="channels-h">
        <h2 id="channels-h">Connected channels</h2>
        {loadError && (
          <div className="form-error" role="alert">
            <p>{loadError}</p>
            <button type="button" className="button secondary" onClick={() => void load()}>
              Try again
            </button>
          </div>
        )}
        {channels === null && !loadError && (
          <p className="page-loading" role="status">
            Loading channels…
          </p>
        )}
        {channels && channels.length === 0 && (
          <div className="empty">
            <p className="empty-title">No channels yet</p>
            <p>
              {canWrite
                ? "Add a Telegram bot or a WhatsApp number below; the web widget works without one."
                : "The web widget works without one. Adding a channel is for the workspace's owner and admins."}
            </p>
          </div>
        )}
        {channels && channels.length > 0 && (
          <ul className="channel-list">
            {channels.map((ch) => {
              const t = tests[ch.id];
              const label = ch.name || typeName(ch.type);
              return (
                <li key={ch.id} className="channel" aria-labelledby={"ch-" + ch.id}>
                  <div className="channel-main">
                    <div>
                      <h3 id={"ch-" + ch.id}>{label}</h3>
                      <p className="doc-sub">
                        {typeName(ch.type)}
                        {ch.bot_username ? ` · @${ch.bot_username}` : ""}
                        {ch.phone_number_id ? ` · phone number id ${ch.phone_number_id}` : ""}
                        {ch.type === "telegram" ? (ch.groups_enabled ? " · answers in groups" : " · private chats only") : ""}
                      </p>
                    </div>
                    {canWrite && (
                      <div className="actions">
                        <button type="button" className="button secondary small" onClick={() => void test(ch)} disabled={t?.busy}>
                          {t?.busy ? "Testing…" : <>Test<span className="visually-hidden"> {label}</span></>}
                        </button>
                        <button type="button" className="button danger-outline small" onClick={() => remove(ch)}>
                          Remove<span className="visually-hidden"> {label}</span>
                        </button>
                      </div>
                    )}
                  </div>
                  <div className="webhook-row">
                    <span className="webhook-label">Webhook URL</span>
                    <code className="webhook-url">{ch.webhook_url}</code>
                    <CopyButton text={ch.webhook_url} label="Copy URL" />
                  </div>
                  <p className={t?.result ? (t.result.ok ? "test-result ok" : "test-result failed") : "test-result"} role="status">
                    {t?.result ? (t.result.ok ? "Test passed: " : "Test failed: ") + t.result.message : t?.error ? "Test failed: " + t.error : ""}
                  </p>
                </li>
              );
            })}
          </ul>
        )}
      </section>

      {added && (
        <div className="notice added" ref={addedRef} tabIndex={-1} role="region" aria-labelledby="added-h">
          <h2 id="added-h">{added.name || typeName(added.type)} is connected</h2>
          {added.type === "telegram" ? (
            <p>
              @{added.bot_username} answers from now on: coachwire set its webhook with Telegram. Message the bot to try it.
            </p>
          ) : (
            <>
              <p>One step left, in your Meta app's WhatsApp configuration: set the webhook to</p>
              <div className="webhook-row">
                <span className="webhook-label">Callback URL</span>
                <code className="webhook-url">{added.webhook_url}</code>
                <CopyButton text={added.webhook_url} label="Copy callback URL" />
              </div>
              <p>with the verify token you copied from the form, and subscribe to the “messages” field.</p>
            </>
          )}
        </div>
      )}

      {!canWrite ? (
        <p className="hint read-only-reason">Your role can see the channels; adding, testing and removing them is for the workspace&apos;s owner and admins.</p>
      ) : (
        <section className="panel" aria-labelledby="add-h">
          <h2 id="add-h">Add a channel</h2>
          <form ref={formRef} onSubmit={add} noValidate aria-labelledby="add-h">
            <fieldset className="segmented">
              <legend>Type</legend>
              <div className="segments">
                {(["telegram", "whatsapp"] as Kind[]).map((k) => (
                  <label key={k} className={form.type === k ? "segment checked" : "segment"}>
                    <input
                      type="radio"
                      name="channel-type"
                      value={k}
                      checked={form.type === k}
                      onChange={() => {
                        setForm(emptyForm(k));
                        setErrors({});
                        setFormError("");
                      }}
                    />
                    {typeName(k)}
                  </label>
                ))}
              </div>
            </fieldset>
            {formError && (
              <div className="form-error" role="alert">
                <p>{formError}</p>
              </div>
            )}
            <Field id="ch-name" label="Name" hint="For you, in lists and the inbox (optional)." error={errors.name}>
              {(p) => <input {...p} type="text" value={form.name} maxLength={200} autoComplete="off" onChange={(e) => set("name", e.target.value)} />}
            </Field>
            {form.type === "telegram" ? (
              <>
                <Field
                  id="ch-bot-token"
                  label="Bot token"
                  hint="From @BotFather (/newbot or /token), like 123456789:AA…. Checked with Telegram before saving."
                  error={errors.bot_token}
                >
                  {(p) => (
                    <input
                      {...p}
                      type="password"
                      value={form.bot_token}
                      autoComplete="off"
                      spellCheck={false}
                      required
                      onChange={(e) => set("bot_token", e.target.value)}
                    />
                  )}
                </Field>
                <label className="check">
                  <input type="checkbox" checked={form.groups_enabled} onChange={(e) => set("groups_enabled", e.target.checked)} /> Answer in groups
                  when mentioned or replied to
                </label>
              </>
            ) : (
              <>
                <Field
                  id="ch-pnid"
                  label="Phone number ID"
                  hint="In your Meta app: WhatsApp › API setup (a number, not the phone number itself)."
                  error={errors.phone_number_id}
                >
                  {(p) => (
                    <input
                      {...p}
                      type="text"
                      inputMode="numeric"
                      value={form.phone_number_id}
                      autoComplete="off"
                      required
                      onChange={(e) => set("phone_number_id", e.target.value)}
                    />
                  )}
                </Field>
                <Field id="ch-access" label="Access token" hint="A permanent system-user token with whatsapp_business_messaging." error={errors.access_token}>
                  {(p) => (
                    <input {...p} type="password" value={form.access_token} autoComplete="off" required onChange={(e) => set("access_token", e.target.value)} />
                  )}
                </Field>
                <Field id="ch-app-secret" label="App secret" hint="App settings › Basic; checks that webhooks come from Meta." error={errors.app_secret}>
                  {(p) => (
                    <input {...p} type="password" value={form.app_secret} autoComplete="off" required onChange={(e) => set("app_secret", e.target.value)} />
                  )}
                </Field>
                <Field
                  id="ch-verify"
                  label="Verify token"
                  hint="Paste it as the verify token in Meta's webhook configuration (with the callback URL shown after saving). Generated for you; copy it now, it is not shown again."
                  error={errors.verify_token}
                >
                  {(p) => (
                    <div className="color-row">
                      <input {...p} type="text" value={form.verify_token} autoComplete="off" spellCheck={false} onChange={(e) => set("verify_token", e.target.value)} />
                      <CopyButton text={form.verify_token} label="Copy" />
                    </div>
                  )}
                </Field>
                <fieldset className="group">
                  <legend>Re-engagement template (optional)</legend>
                  <p className="hint" id="ch-tpl-hint">
                    An approved template sent instead of free text outside WhatsApp's 24-hour window.
                  </p>
                  <div className="look-grid">
                    <Field id="ch-tpl-name" label="Template name" error={errors.template}>
                      {(p) => <input {...p} type="text" value={form.template_name} autoComplete="off" onChange={(e) => set("template_name", e.target.value)} />}
                    </Field>
                    <Field id="ch-tpl-lang" label="Template language" hint="e.g. en_US">
                      {(p) => (
                        <input {...p} type="text" value={form.template_language} autoComplete="off" onChange={(e) => set("template_language", e.target.value)} />
                      )}
                    </Field>
                  </div>
                </fieldset>
              </>
            )}
            <button type="submit" className="button primary" disabled={adding}>
              {adding ? `Checking with ${typeName(form.type)}…` : `Check and add ${typeName(form.type)} channel`}
            </button>
          </form>
        </section>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </Page>
  );
}
