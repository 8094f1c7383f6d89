// The live document states: GET /api/v1/documents/events is a server-sent event stream that
// needs the Authorization header, which EventSource cannot send, so it is read with fetch and
// parsed here. The stream reconnects with backoff; after every (re)connect the caller reloads
// the list, since changes made while disconnected were not streamed.
import { authorizedFetch } from "../../api/client";
import { ApiError } from "../../api/errors";

export interface DocumentEvent {
  document_id: string;
  status: string;
  chunks: number;
  error?: string;
  occurred_at: string;
}

export type StreamState = "connecting" | "live" | "reconnecting";

export interface StreamHandlers {
  onEvent: (e: DocumentEvent) => void;
  onState: (s: StreamState) => void;
  /** Called when the stream is (again) live. */
  onConnected: () => void;
}

/** Follows the document events until the returned function is called. */
export function followDocumentEvents(h: StreamHandlers): () => void {
  const stop = new AbortController();
  let attempt = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      stop.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });

  const once = async () => {
    const res = await authorizedFetch("/api/v1/documents/events", {
      signal: stop.signal,
      headers: { Accept: "text/event-stream" },
    });
    if (!res.ok || !res.body) throw new ApiError(res.status, "stream", "event stream refused");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let connected = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, "\n");
      let cut: number;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        if (!connected) {
          // The first block (": connected") means the subscription is live.
          connected = true;
          attempt = 0;
          h.onState("live");
          h.onConnected();
        }
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "event") event = val;
          else if (field === "data") data.push(val);
        }
        if (event === "document" && data.length) {
          try {
            h.onEvent(JSON.parse(data.join("\n")) as DocumentEvent);
          } catch {
            // a malformed event is skipped
          }
        }
      }
    }
  };

  void (async () => {
    h.onState("connecting");
    while (!stop.signal.aborted) {
      try {
        await once();
      } catch (e) {
        if (stop.signal.aborted) return;
        // Signed out (the refresh failed): the page is going away.
        if (e instanceof ApiError && e.status === 401) return;
      }
      if (stop.signal.aborted) return;
      h.onState("reconnecting");
      attempt++;
      await sleep(Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)));
    }
  })();

  return () => stop.abort();
}
