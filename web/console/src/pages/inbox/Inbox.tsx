// The Inbox page: every conversation across channels in one virtualised list (server-side keyset
// paging, filters, full-text search), the live transcript of the open conversation (the bot's
// reply streams in as it is written), take over / reply / release, and the person: tags, opt-out
// state, memory profile (view, edit, erase), export of their data and deletion for good.
// /inbox lists; /inbox/<conversation id> opens one (on a phone: the list, then the transcript).
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, authorizedFetch, errorText, type Schemas } from "../../api/client";
import { errorOf } from "../../api/errors";
import { useCan } from "../../api/perms";
import { navigate, Link } from "../../router";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { saveBlob } from "../../ui/download";
import { Page } from "../../ui/Page";
import { followInbox, type ActivityEvent, type DeltaEvent, type StreamState } from "./events";
import { VirtualList } from "./VirtualList";

type Conversation = Schemas["Conversation"];
type Message = Schemas["Message"];
type EndUser = Schemas["EndUser"];
type Profile = Schemas["Profile"];

const pageSize = 50;
const rowHeight = 76;
const channelNames: Record<string, string> = { widget: "Web widget", whatsapp: "WhatsApp", telegram: "Telegram", app: "App" };
const statusNames: Record<string, string> = { bot: "Bot", human: "Taken over", closed: "Closed" };
const profileFields: { key: keyof Profile; label: string }[] = [
  { key: "goals", label: "Goals" },
  { key: "preferences", label: "Preferences" },
  { key: "commitments", label: "Commitments" },
  { key: "facts", label: "Facts" },
];

interface Filters {
  q: string;
  channel: string;
  status: string;
  tag: string;
  optedOut: string;
}
const noFilters: Filters = { q: "", channel: "", status: "", tag: "", optedOut: "" };

const nameOf = (c: Conversation) => c.display_name || c.handle || "Anonymous visitor";
// linkedChannels are the person's other channels: the end users linked with this one (the app
// and their WhatsApp or Telegram chat), whose memory, enrollments, caps and opt-out are shared.
const linkedChannels = (c: Conversation) => (c.person_channels ?? []).filter((ch, i, all) => ch !== c.channel && all.indexOf(ch) === i);
const when = (s?: string) => {
  if (!s) return "";
  const d = new Date(s);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleDateString();
};

export default function Inbox({ path }: { path: string }) {
  const selected = path.startsWith("/inbox/") ? decodeURIComponent(path.slice("/inbox/".length)) : "";
  // What the role may do here (api/perms.ts, kept current): message content (the transcript and
  // the live stream need content.read) and answering (inbox.write).
  const can = useCan();
  const mayRead = can("content.read");
  const mayReadRef = useRef(mayRead);
  mayReadRef.current = mayRead;
  const [rows, setRows] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState("");
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [query, setQuery] = useState("");
  const [stream, setStream] = useState<StreamState | "off">("connecting");
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const filtered = JSON.stringify(filters) !== JSON.stringify(noFilters);
  const loadAbort = useRef<AbortController | null>(null);
  const loadingMore = useRef(false);
  // Each first-page load starts a generation; a next page of an older one is dropped.
  const generation = useRef(0);

  const announce = useCallback((text: string) => {
    setAnnouncement("");
    setTimeout(() => setAnnouncement(text), 50);
  }, []);

  const load = useCallback(
    async (after?: string) => {
      if (after) {
        if (loadingMore.current) return;
        loadingMore.current = true;
      } else {
        loadAbort.current?.abort();
      }
      const ctl = new AbortController();
      if (!after) {
        loadAbort.current = ctl;
        generation.current++;
        setLoading(true);
      }
      const gen = generation.current;
      try {
        const out = await api("get", "/api/v1/conversations", {
          query: {
            q: filters.q || undefined,
            channel: (filters.channel || undefined) as "widget" | undefined,
            status: (filters.status || undefined) as "bot" | undefined,
            tag: filters.tag || undefined,
            opted_out: filters.optedOut === "" ? undefined : filters.optedOut === "yes",
            limit: pageSize,
            cursor: after,
          },
          signal: ctl.signal,
        });
        if (gen !== generation.current) return;
        setRows((old) => {
          if (!after) return out.conversations;
          const have = new Set(old.map((c) => c.id));
          return [...old, ...out.conversations.filter((c) => !have.has(c.id))];
        });
        setCursor(out.next_cursor);
        setLoadError("");
      } catch (e) {
        if (ctl.signal.aborted) return;
        setLoadError(errorText(e));
      } finally {
        if (after) loadingMore.current = false;
        else if (loadAbort.current === ctl) setLoading(false);
      }
    },
    [filters],
  );
  useEffect(() => {
    void load();
  }, [load]);
  // The search box's text as of the last render: the debounced filter reads it when it fires,
  // so a pending timer cannot bring back text cleared meanwhile ("Clear filters" within 300 ms
  // of typing, before the effect's cleanup ran).
  const queryRef = useRef(query);
  queryRef.current = query;
  useEffect(() => {
    const t = setTimeout(() => {
      const q = queryRef.current.trim();
      setFilters((f) => (f.q === q ? f : { ...f, q }));
    }, 300);
    return () => clearTimeout(t);
  }, [query]);
  const more = useCallback(() => {
    if (cursor) void load(cursor);
  }, [cursor, load]);

  // The open conversation: its messages, the reply being written, the person.
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState<{ turn: string; text: string } | null>(null);
  const [conv, setConv] = useState<Conversation | null>(null);
  const [convError, setConvError] = useState("");
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  const loadConversation = useCallback(async (id: string) => {
    setConvError("");
    try {
      const [c, m] = await Promise.all([
        api("get", "/api/v1/conversations/{id}", { path: { id } }),
        mayReadRef.current ? api("get", "/api/v1/conversations/{id}/messages", { path: { id } }) : { messages: [] as Message[] },
      ]);
      if (selectedRef.current !== id) return;
      setConv(c);
      setMessages(m.messages);
    } catch (e) {
      if (selectedRef.current !== id) return;
      setConv(null);
      setMessages([]);
      setConvError(e instanceof ApiError && e.status === 404 ? "This conversation does not exist any more (its person may have been deleted)." : errorText(e));
    }
  }, []);
  useEffect(() => {
    setConv(null);
    setMessages([]);
    setDraft(null);
    if (selected) void loadConversation(selected);
  }, [selected, loadConversation]);

  // Catch-up: the messages after the last one shown (the stream announces some messages without
  // their text, and a widget visitor's own messages only through the reply they get).
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const catchUp = useCallback(async (id: string) => {
    const after = messagesRef.current.reduce((n, m) => Math.max(n, m.seq), 0);
    try {
      const out = await api("get", "/api/v1/conversations/{id}/messages", { path: { id }, query: { after_seq: after } });
      if (selectedRef.current !== id) return;
      setMessages((list) => {
        const have = new Set(list.map((m) => m.id));
        const fresh = out.messages.filter((m) => !have.has(m.id));
        return fresh.length ? [...list, ...fresh].sort((a, b) => a.seq - b.seq) : list;
      });
    } catch {
      // the next event or a reconnect catches up
    }
  }, []);

  // Live updates.
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  useEffect(() => {
    const upsertRow = async (id: string) => {
      try {
        const c = await api("get", "/api/v1/conversations/{id}", { path: { id } });
        const f = filtersRef.current;
        if (f.q || (f.channel && c.channel !== f.channel) || (f.status && c.status !== f.status) || (f.tag && !(c.tags ?? []).includes(f.tag)) ||
          (f.optedOut !== "" && !!c.opted_out !== (f.optedOut === "yes"))) {
          setRows((list) => list.filter((r) => r.id !== id));
          return;
        }
        setRows((list) => [c, ...list.filter((r) => r.id !== id)]);
        if (selectedRef.current === id) setConv(c);
      } catch {
        // gone: the next event or reload tells
      }
    };
    const onActivity = (e: ActivityEvent) => {
      const open = e.conversation_id === selectedRef.current;
      if (e.kind === "conversation" && e.status === "deleted") {
        setRows((list) => list.filter((r) => r.id !== e.conversation_id));
        if (open) setConvError("This conversation was deleted.");
        return;
      }
      if (e.kind === "message" || e.kind === "conversation") void upsertRow(e.conversation_id);
      if (!open) return;
      if (e.kind === "message" && e.message_id) {
        void catchUp(e.conversation_id).then(() => {
          if (e.role === "assistant") setDraft(null);
        });
        if (e.role === "user") announce("New message in this conversation.");
      } else if (e.kind === "message_status" && e.message_id) {
        setMessages((list) => list.map((x) => (x.id === e.message_id ? { ...x, status: e.status ?? x.status } : x)));
      }
    };
    const onDelta = (d: DeltaEvent) => {
      if (d.conversation_id !== selectedRef.current) return;
      setDraft((old) => {
        // A new turn: the message it answers may not be shown yet.
        if (!old || old.turn !== d.turn) void catchUp(d.conversation_id);
        return { turn: d.turn, text: d.reset || !old || old.turn !== d.turn ? d.text : old.text + d.text };
      });
    };
    // Without content.read the stream is refused (403): the list is read on load and on "Reload".
    if (!mayRead) {
      setStream("off");
      return;
    }
    let first = true;
    return followInbox(selected || undefined, {
      onActivity,
      onDelta,
      onState: setStream,
      onConnected: () => {
        // After a reconnect, changes made meanwhile were not streamed: reload.
        if (!first) {
          void load();
          if (selectedRef.current) void loadConversation(selectedRef.current);
        }
        first = false;
      },
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selected, mayRead]);

  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const open = (c: Conversation) => navigate("/inbox/" + c.id);

  const setF = (k: keyof Filters, v: string) => setFilters((f) => ({ ...f, [k]: v }));
  const clear = () => {
    setQuery("");
    setFilters(noFilters);
  };

  return (
    <Page
      title="Inbox"
      actions={
        stream === "off" ? (
          <button type="button" className="button secondary small" onClick={() => void load()}>
            Reload
          </button>
        ) : (
          <LiveBadge state={stream} />
        )
      }
    >
      <div className="visually-hidden" role="status" aria-live="polite">
        {announcement}
      </div>
      {notice && (
        <p className={notice.kind === "ok" ? "notice" : "form-error"} role={notice.kind === "ok" ? "status" : "alert"}>
          {notice.text}
        </p>
      )}
      <div className={"inbox" + (selected ? " inbox-open" : "")}>
        <section className="inbox-list" aria-labelledby="inbox-list-title">
          <h2 id="inbox-list-title" className="visually-hidden">
            Conversations
          </h2>
          <form className="inbox-filters" role="search" onSubmit={(e) => e.preventDefault()}>
            <div className="field">
              <label htmlFor="inbox-search">Search messages or names</label>
              <input id="inbox-search" type="search" value={query} onChange={(e) => setQuery(e.target.value)} autoComplete="off" />
            </div>
            <div className="inbox-filter-row">
              <div className="field">
                <label htmlFor="inbox-channel">Channel</label>
                <select id="inbox-channel" value={filters.channel} onChange={(e) => setF("channel", e.target.value)}>
                  <option value="">All</option>
                  <option value="widget">Web widget</option>
                  <option value="whatsapp">WhatsApp</option>
                  <option value="telegram">Telegram</option>
                  <option value="app">App</option>
                </select>
              </div>
              <div className="field">
                <label htmlFor="inbox-status">Status</label>
                <select id="inbox-status" value={filters.status} onChange={(e) => setF("status", e.target.value)}>
                  <option value="">All</option>
                  <option value="bot">Bot answering</option>
                  <option value="human">Taken over</option>
                  <option value="closed">Closed</option>
                </select>
              </div>
              <div className="field">
                <label htmlFor="inbox-tag">Tag</label>
                <input id="inbox-tag" value={filters.tag} onChange={(e) => setF("tag", e.target.value.trim())} autoComplete="off" />
              </div>
              <div className="field">
                <label htmlFor="inbox-optout">Opted out</label>
                <select id="inbox-optout" value={filters.optedOut} onChange={(e) => setF("optedOut", e.target.value)}>
                  <option value="">All</option>
                  <option value="yes">Opted out</option>
                  <option value="no">Not opted out</option>
                </select>
              </div>
            </div>
          </form>
          {loadError ? (
            <div className="form-error" role="alert">
              <p>The conversations could not be loaded: {loadError}</p>
              <button type="button" className="button secondary small" onClick={() => void load()}>
                Try again
              </button>
            </div>
          ) : loading && rows.length === 0 ? (
            <p className="page-loading" role="status">
              Loading conversations…
            </p>
          ) : rows.length === 0 ? (
            <div className="empty">
              {filtered ? (
                <>
                  <p className="empty-title">No conversations match these filters.</p>
                  <button type="button" className="button secondary" onClick={clear}>
                    Clear the filters
                  </button>
                </>
              ) : (
                <>
                  <p className="empty-title">No conversations yet</p>
                  <p>When someone writes to your coach on the web widget, WhatsApp or Telegram, the conversation shows up here at once.</p>
                </>
              )}
            </div>
          ) : (
            <>
              <p className="hint inbox-count" aria-live="polite">
                {rows.length}
                {cursor ? "+" : ""} conversation{rows.length === 1 ? "" : "s"} · arrow keys move, Enter opens
              </p>
              <VirtualList
                id="inbox-rows"
                label="Conversations"
                items={rows}
                rowHeight={rowHeight}
                keyOf={(c) => c.id}
                selected={selected}
                onOpen={open}
                onEnd={more}
                render={(c) => <Row c={c} />}
              />
            </>
          )}
        </section>
        <section className="inbox-detail" aria-label="Conversation">
          {!selected ? (
            <div className="empty inbox-placeholder">
              <p className="empty-title">Pick a conversation</p>
              <p>Its transcript, the person's profile and the takeover controls appear here.</p>
            </div>
          ) : (
            <>
              <Link className="button link inbox-back" to="/inbox">
                ← All conversations
              </Link>
              {convError ? (
                <p className="form-error" role="alert">
                  {convError}
                </p>
              ) : !conv ? (
                <p className="page-loading" role="status">
                  Loading the conversation…
                </p>
              ) : (
                <Detail
                  key={conv.id}
                  conv={conv}
                  messages={messages}
                  draft={draft?.text ?? ""}
                  onConv={(c) => {
                    setConv((old) => ({ ...(old ?? c), ...c }));
                    setRows((list) => list.map((r) => (r.id === c.id ? { ...r, ...c } : r)));
                  }}
                  onMessage={(m) => setMessages((list) => (list.some((x) => x.id === m.id) ? list : [...list, m]))}
                  setConfirm={setConfirm}
                  setNotice={setNotice}
                  onDeleted={(name) => {
                    setRows((list) => list.filter((r) => r.end_user_id !== conv.end_user_id));
                    setNotice({ kind: "ok", text: `${name} and everything kept about them were deleted.` });
                    navigate("/inbox");
                  }}
                />
              )}
            </>
          )}
        </section>
      </div>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </Page>
  );
}

function LiveBadge({ state }: { state: StreamState }) {
  const text = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…";
  return (
    <span className={"live live-" + state}>
      <span className="live-dot" aria-hidden="true" />
      <span className="live-text">{text}</span>
    </span>
  );
}

function Row({ c }: { c: Conversation }) {
  const last = c.last_message;
  return (
    <div className="irow" data-status={c.status}>
      <div className="irow-top">
        <span className="irow-name">{nameOf(c)}</span>
        <span className="irow-time">{when(last?.at ?? c.last_activity_at)}</span>
      </div>
      <div className="irow-preview">
        {c.awaiting_reply && <span className="dot-unread" aria-label="Waiting for an answer" role="img" />}
        {last ? (last.role === "user" ? "" : last.role === "assistant" ? "Bot: " : "You: ") + (last.text ?? "") : "No messages yet"}
      </div>
      <div className="irow-meta">
        <span className="chip">{channelNames[c.channel] ?? c.channel}</span>
        {linkedChannels(c).map((ch) => (
          <span key={ch} className="chip" title="The same person, linked on this channel" data-linked-channel={ch}>
            + {channelNames[ch] ?? ch}
          </span>
        ))}
        {c.status !== "bot" && <span className={"chip chip-" + c.status}>{statusNames[c.status]}</span>}
        {c.opted_out && <span className="chip chip-closed">Opted out</span>}
        {(c.tags ?? []).slice(0, 3).map((t) => (
          <span key={t} className="chip chip-tag">
            #{t}
          </span>
        ))}
      </div>
    </div>
  );
}

interface DetailProps {
  conv: Conversation;
  messages: Message[];
  draft: string;
  onConv: (c: Conversation) => void;
  onMessage: (m: Message) => void;
  setConfirm: (r: ConfirmRequest | null) => void;
  setNotice: (n: { kind: "ok" | "error"; text: string } | null) => void;
  onDeleted: (name: string) => void;
}

function Detail({ conv, messages, draft, onConv, onMessage, setConfirm, setNotice, onDeleted }: DetailProps) {
  const can = useCan();
  const mayAnswer = can("inbox.write");
  const mayRead = can("content.read");
  const [reply, setReply] = useState("");
  const [busy, setBusy] = useState("");
  const [error, setError] = useState("");
  const log = useRef<HTMLOListElement>(null);
  const name = nameOf(conv);

  useEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length, draft]);

  const act = async (what: string, fn: () => Promise<void>) => {
    setBusy(what);
    setError("");
    try {
      await fn();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy("");
    }
  };
  const takeover = () =>
    act("takeover", async () => {
      onConv({ ...conv, ...(await api("post", "/api/v1/conversations/{id}/takeover", { path: { id: conv.id } })) });
    });
  const release = () =>
    act("release", async () => {
      onConv({ ...conv, ...(await api("post", "/api/v1/conversations/{id}/release", { path: { id: conv.id } })) });
    });
  const send = (e: React.FormEvent) => {
    e.preventDefault();
    const text = reply.trim();
    if (!text) {
      setError("Write a message first.");
      return;
    }
    void act("send", async () => {
      const res = await authorizedFetch(`/api/v1/conversations/${conv.id}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text }),
      });
      if (!res.ok) throw await errorOf(res);
      const out = (await res.json()) as { message: Message; conversation: Conversation };
      onMessage(out.message);
      onConv(out.conversation);
      setReply("");
    });
  };
  const exportData = () =>
    act("export", async () => {
      const res = await authorizedFetch(`/api/v1/end-users/${conv.end_user_id}/export`);
      if (!res.ok) throw await errorOf(res);
      const blob = await res.blob();
      const data = JSON.parse(await blob.text()) as { conversations: { messages: unknown[] }[] };
      const n = data.conversations.reduce((s, c) => s + c.messages.length, 0);
      saveBlob(blob, `end-user-${conv.end_user_id}.json`);
      setNotice({ kind: "ok", text: `Exported ${name}'s data: ${n} message${n === 1 ? "" : "s"} in ${data.conversations.length} conversation${data.conversations.length === 1 ? "" : "s"}.` });
    });
  const linked = linkedChannels(conv);
  const unlink = () =>
    setConfirm({
      title: `Unlink ${name}'s ${channelNames[conv.channel] ?? conv.channel} conversation?`,
      message: `It stops being the same person as their ${linked.map((ch) => channelNames[ch] ?? ch).join(" and ")} conversation: memory, program enrollments, message caps and opt-out are no longer shared, and its memory profile starts empty. The person can link again from the app.`,
      confirm: "Unlink",
      onConfirm: () =>
        void act("unlink", async () => {
          await api("delete", "/api/v1/end-users/{id}/link", { path: { id: conv.end_user_id } });
          onConv({ ...conv, person_id: conv.end_user_id, person_channels: [conv.channel] });
          setNotice({ kind: "ok", text: `${name}'s ${channelNames[conv.channel] ?? conv.channel} conversation is unlinked.` });
        }),
    });
  const remove = () =>
    setConfirm({
      title: `Delete ${name} for good?`,
      message: `Their conversations on every channel, messages, memory profile, tags and program enrollments are deleted at once. This cannot be undone. Export their data first if you need a copy.`,
      confirm: "Delete for good",
      danger: true,
      onConfirm: () =>
        void act("delete", async () => {
          await api("delete", "/api/v1/end-users/{id}", { path: { id: conv.end_user_id } });
          onDeleted(name);
        }),
    });

  const human = conv.status === "human";
  return (
    <div className="detail">
      <header className="detail-head">
        <div>
          <h2 className="detail-name">{name}</h2>
          <p className="hint">
            {channelNames[conv.channel] ?? conv.channel}
            {conv.handle && conv.handle !== name ? ` · ${conv.handle}` : ""}
            {linked.length > 0 && <span data-linked-channels={linked.join(" ")}>{` · also on ${linked.map((ch) => channelNames[ch] ?? ch).join(", ")}`}</span>} · <span data-conv-status={conv.status}>{human ? "You are answering" : conv.status === "closed" ? "Closed" : "The bot is answering"}</span>
          </p>
        </div>
        <div className="actions">
          {mayAnswer && linked.length > 0 && (
            <button type="button" className="button secondary small" onClick={unlink} disabled={!!busy}>
              {busy === "unlink" ? "Unlinking…" : "Unlink"}
            </button>
          )}
          {!mayAnswer ? null : human ? (
            <button type="button" className="button secondary small" onClick={release} disabled={!!busy}>
              {busy === "release" ? "Releasing…" : "Release to the bot"}
            </button>
          ) : (
            <button type="button" className="button primary small" onClick={takeover} disabled={!!busy || conv.status === "closed"}>
              {busy === "takeover" ? "Taking over…" : "Take over"}
            </button>
          )}
        </div>
      </header>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="detail-grid">
        <div className="transcript-wrap">
          <ol className="transcript" ref={log} aria-label={`Messages with ${name}`} tabIndex={0}>
            {!mayRead ? (
              <li className="empty">Your role does not show the people&apos;s messages. An owner or admin can grant it on the Team page.</li>
            ) : (
              messages.length === 0 && !draft && <li className="empty">No messages yet.</li>
            )}
            {messages
              .filter((m) => m.role !== "system")
              .map((m) => (
                <li key={m.id} className={"msg msg-" + m.role} data-msg-id={m.id} data-role={m.role}>
                  <span className="msg-who">{m.role === "user" ? name : m.role === "assistant" ? "Bot" : "You"}</span>
                  <p className="msg-text">{m.text}</p>
                  <span className="msg-meta">
                    {when(m.created_at)}
                    {m.role !== "user" && m.status ? ` · ${m.status}` : ""}
                  </span>
                </li>
              ))}
            {draft && (
              <li className="msg msg-assistant msg-draft" aria-busy="true">
                <span className="msg-who">Bot (writing…)</span>
                <p className="msg-text">{draft}</p>
              </li>
            )}
          </ol>
          {mayAnswer ? (
            <form className="reply" onSubmit={send}>
              <div className="field">
                <label htmlFor="reply-text">Reply as yourself{human ? "" : " (takes the conversation over)"}</label>
                <textarea
                  id="reply-text"
                  rows={3}
                  value={reply}
                  onChange={(e) => setReply(e.target.value)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e);
                  }}
                  aria-describedby="reply-hint"
                  disabled={conv.status === "closed"}
                />
                <p id="reply-hint" className="hint">
                  Ctrl+Enter sends. The person receives it on {channelNames[conv.channel] ?? conv.channel}.
                </p>
              </div>
              <button type="submit" className="button primary" disabled={!!busy || conv.status === "closed"}>
                {busy === "send" ? "Sending…" : "Send"}
              </button>
            </form>
          ) : (
            <p className="hint">Your role reads the inbox; taking over and replying are for agents, admins and the owner.</p>
          )}
        </div>
        <Person conv={conv} setConfirm={setConfirm} onConv={onConv} exportData={exportData} remove={remove} busy={busy} />
      </div>
    </div>
  );
}

function Person({
  conv,
  setConfirm,
  onConv,
  exportData,
  remove,
  busy,
}: {
  conv: Conversation;
  setConfirm: (r: ConfirmRequest | null) => void;
  onConv: (c: Conversation) => void;
  exportData: () => void;
  remove: () => void;
  busy: string;
}) {
  const [person, setPerson] = useState<EndUser | null>(null);
  const [profile, setProfile] = useState<Profile | null>(null);
  const [edited, setEdited] = useState(false);
  const [editing, setEditing] = useState<Record<string, string> | null>(null);
  const [tags, setTags] = useState("");
  const [error, setError] = useState("");
  const [saved, setSaved] = useState("");
  const can = useCan();
  const id = conv.end_user_id;
  const canExport = can("end_users.export");
  const canDelete = can("end_users.delete");
  const canTag = can("inbox.write");
  const canEditMemory = can("memory.write");

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const [p, m] = await Promise.all([
          api("get", "/api/v1/end-users/{id}", { path: { id } }),
          api("get", "/api/v1/end-users/{id}/memory", { path: { id } }).catch((e: unknown) => {
            if (e instanceof ApiError && e.status === 403) return null;
            throw e;
          }),
        ]);
        if (!live) return;
        setPerson(p);
        setTags(p.tags.join(", "));
        setProfile(m ? m.profile : null);
        setEdited(!!m?.edited_by_creator);
      } catch (e) {
        if (live) setError(errorText(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [id]);

  const run = async (fn: () => Promise<void>) => {
    setError("");
    setSaved("");
    try {
      await fn();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const saveTags = (e: React.FormEvent) => {
    e.preventDefault();
    if (!canTag) return;
    void run(async () => {
      const list = tags
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
      const p = await api("put", "/api/v1/end-users/{id}/tags", { path: { id }, body: { tags: list } });
      setPerson(p);
      setTags(p.tags.join(", "));
      onConv({ ...conv, tags: p.tags });
      setSaved("Tags saved.");
    });
  };
  const saveProfile = (e: React.FormEvent) => {
    e.preventDefault();
    if (!editing) return;
    void run(async () => {
      const body: Profile = {};
      for (const f of profileFields) {
        body[f.key] = editing[f.key]
          .split("\n")
          .map((s) => s.trim())
          .filter(Boolean);
      }
      const m = await api("put", "/api/v1/end-users/{id}/memory", { path: { id }, body: { profile: body } });
      setProfile(m.profile);
      setEdited(true);
      setEditing(null);
      setSaved("Memory profile saved.");
    });
  };
  const erase = () =>
    setConfirm({
      title: "Erase the memory profile?",
      message: "The coach forgets everything it noted about this person. Messages written before now are never read for the profile again.",
      confirm: "Erase",
      danger: true,
      onConfirm: () =>
        void run(async () => {
          await api("delete", "/api/v1/end-users/{id}/memory", { path: { id } });
          setProfile({});
          setEdited(false);
          setSaved("Memory profile erased.");
        }),
    });

  const empty = !profile || profileFields.every((f) => !(profile[f.key] ?? []).length);
  return (
    <aside className="person" aria-labelledby="person-title">
      <h3 id="person-title">The person</h3>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {saved && (
        <p className="notice" role="status">
          {saved}
        </p>
      )}
      {person && (
        <p className="hint" data-opted-out={person.opted_out ? "yes" : "no"}>
          {person.opted_out
            ? `Opted out of proactive messages${person.opted_out_at ? " on " + new Date(person.opted_out_at).toLocaleDateString() : ""}: campaigns and programs skip them; replies still go out.`
            : "Receives proactive messages (campaigns, programs)."}
        </p>
      )}
      <form className="tags-form" onSubmit={saveTags}>
        <div className="field">
          <label htmlFor="person-tags">Tags</label>
          <input
            id="person-tags"
            value={tags}
            onChange={(e) => setTags(e.target.value)}
            aria-describedby="person-tags-hint"
            autoComplete="off"
            readOnly={!canTag}
          />
          <p id="person-tags-hint" className="hint">
            {canTag ? "Separate tags with commas. Campaign audiences filter on them." : "Your role reads the tags; agents, admins and the owner change them."}
          </p>
        </div>
        {canTag && (
          <button type="submit" className="button secondary small">
            Save tags
          </button>
        )}
      </form>
      <h4>Memory profile {edited && <span className="hint">(edited by your team)</span>}</h4>
      {profile === null ? (
        <p className="hint">Your role cannot read memory profiles.</p>
      ) : editing ? (
        <form className="memory-form" onSubmit={saveProfile}>
          {profileFields.map((f) => (
            <div className="field" key={f.key}>
              <label htmlFor={"memory-" + f.key}>{f.label}</label>
              <textarea
                id={"memory-" + f.key}
                rows={3}
                value={editing[f.key]}
                onChange={(e) => setEditing({ ...editing, [f.key]: e.target.value })}
                aria-describedby="memory-hint"
              />
            </div>
          ))}
          <p id="memory-hint" className="hint">
            One item per line.
          </p>
          <div className="actions">
            <button type="button" className="button secondary small" onClick={() => setEditing(null)}>
              Cancel
            </button>
            <button type="submit" className="button primary small">
              Save profile
            </button>
          </div>
        </form>
      ) : (
        <>
          {empty ? (
            <p className="hint memory-empty">Nothing remembered yet. The coach notes goals, preferences and commitments as the person writes.</p>
          ) : (
            <dl className="memory">
              {profileFields
                .filter((f) => (profile[f.key] ?? []).length)
                .map((f) => (
                  <div key={f.key}>
                    <dt>{f.label}</dt>
                    {(profile[f.key] ?? []).map((v, i) => (
                      <dd key={i}>{v}</dd>
                    ))}
                  </div>
                ))}
            </dl>
          )}
          {canEditMemory && (
            <div className="actions">
              <button
                type="button"
                className="button secondary small"
                onClick={() => setEditing(Object.fromEntries(profileFields.map((f) => [f.key, (profile[f.key] ?? []).join("\n")])))}
              >
                Edit profile
              </button>
              <button type="button" className="button danger-outline small" onClick={erase} disabled={empty}>
                Erase profile
              </button>
            </div>
          )}
        </>
      )}
      <h4>Their data</h4>
      {canExport || canDelete ? (
        <div className="actions person-data">
          {canExport && (
            <button type="button" className="button secondary small" onClick={exportData} disabled={!!busy}>
              {busy === "export" ? "Exporting…" : "Export data (JSON)"}
            </button>
          )}
          {canDelete && (
            <button type="button" className="button danger small" onClick={remove} disabled={!!busy}>
              Delete person…
            </button>
          )}
        </div>
      ) : (
        <p className="hint">Exporting or deleting a person's data is for the workspace's owner and admins.</p>
      )}
    </aside>
  );
}
