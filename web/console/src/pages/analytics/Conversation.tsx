// A conversation read in a dialog, opened from a knowledge gap (the console has no inbox page
// yet; when it has, the gap's links go there instead).
import { useEffect, useRef, useState } from "react";
import { api, errorText, type Schemas } from "../../api/client";

type Message = Schemas["Message"];

const roleNames: Record<string, string> = { user: "Person", assistant: "Coach", creator: "You or your team", system: "System" };

export function ConversationDialog({ conversation, onClose }: { conversation: { id: string; label: string } | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const close = useRef<HTMLButtonElement>(null);
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (conversation && !d.open) {
      d.showModal();
      close.current?.focus();
    } else if (!conversation && d.open) d.close();
  }, [conversation]);

  useEffect(() => {
    if (!conversation) return;
    const ctl = new AbortController();
    setMessages(null);
    setError("");
    api("get", "/api/v1/conversations/{id}/messages", { path: { id: conversation.id }, signal: ctl.signal })
      .then((r) => setMessages(r.messages))
      .catch((e) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      });
    return () => ctl.abort();
  }, [conversation]);

  return (
    <dialog ref={ref} className="dialog conversation-dialog" aria-labelledby="conversation-title" onClose={onClose}>
      {conversation && (
        <>
          <h2 id="conversation-title">Conversation {conversation.id.slice(0, 8)}</h2>
          <p className="hint">
            Id <code>{conversation.id}</code>
          </p>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          {!error && !messages && <p role="status">Loading the conversation…</p>}
          {messages && (
            <ol className="messages" tabIndex={0} aria-label="Messages">
              {messages.map((m) => (
                <li key={m.id} className={"message message-" + m.role} data-role={m.role}>
                  <span className="message-who">
                    {roleNames[m.role] ?? m.role} · <time dateTime={m.created_at}>{new Date(m.created_at).toLocaleString()}</time>
                  </span>
                  <span className="message-text">{m.text}</span>
                </li>
              ))}
            </ol>
          )}
          <div className="dialog-actions">
            <button ref={close} type="button" className="button secondary" onClick={onClose}>
              Close
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}
