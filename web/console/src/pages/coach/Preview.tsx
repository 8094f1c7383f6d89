// The live preview: the gateway's /widget/preview page in a sandboxed frame, running the real
// /widget.js. The draft settings go to it by postMessage (same origin only) on every change, so
// the widget shows them before they are saved; a question asked in it is answered from the
// creator's documents (the frame is on the console's own origin, which the widget session
// always accepts).
import { useCallback, useEffect, useRef } from "react";

/** What the preview shows: the coach as the session would give it, and the data- options. */
export interface PreviewDraft {
  coach: { name: string; avatar_url: string; welcome: string; suggestions: string[]; branding: boolean };
  color: string;
  position: string;
  theme: string;
  lang: string;
  "launcher-text": string;
}

export function WidgetPreview({ widgetKey, draft, phone }: { widgetKey: string; draft: PreviewDraft; phone: boolean }) {
  const frame = useRef<HTMLIFrameElement>(null);
  const latest = useRef(draft);
  latest.current = draft;

  const post = useCallback(() => {
    frame.current?.contentWindow?.postMessage(
      { type: "coachwire:preview", widget_key: widgetKey, draft: latest.current },
      window.location.origin,
    );
  }, [widgetKey]);

  // The frame says when its script runs (and again if it reloads): send it the draft.
  useEffect(() => {
    const onMessage = (e: MessageEvent) => {
      if (e.origin !== window.location.origin || e.source !== frame.current?.contentWindow) return;
      const t = (e.data as { type?: string } | null)?.type;
      if (t === "coachwire:preview-loaded" || t === "coachwire:preview-ready") post();
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [post]);

  useEffect(post, [draft, post]);

  return (
    <div className={phone ? "preview-frame phone" : "preview-frame"}>
      <iframe
        ref={frame}
        src="/widget/preview"
        title="Live preview of your chat widget"
        sandbox="allow-scripts allow-same-origin allow-forms"
        referrerPolicy="no-referrer"
      />
    </div>
  );
}
