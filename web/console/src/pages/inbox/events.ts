// The live inbox: GET /api/v1/conversations/events is a server-sent event stream that needs the
// Authorization header, which EventSource cannot send, so it is read with fetch and parsed here
// (as the Knowledge page's document events). With a conversation id it also carries that
// conversation's reply as the bot writes it ("delta"). The stream reconnects with backoff; after
// every (re)connect the caller reloads, since changes made while disconnected were not streamed.
import { authorizedFetch } from "../../api/client";
import { ApiError } from "../../api/errors";

export interface ActivityEvent {
  kind: "message" | "message_status" | "conversation";
  conversation_id: string;
  channel?: string;
  message_id?: string;
  seq?: number;
  role?: string;
  text?: string;
  status?: string;
  error_code?: string;
}

export interface DeltaEvent {
  conversation_id: string;
  turn: string;
  text: string;
  reset?: boolean;
}

export type StreamState = "connecting" | "live" | "reconnecting";

export interface StreamHandlers {
  onActivity: (e: ActivityEvent) => void;
  onDelta: (e: DeltaEvent) => void;
  onState: (s: StreamState) => void;
  /** Called when the stream is (again) live. */
  onConnected: () => void;
}

/** Follows the conversation events (and one conversation's deltas) until the returned function is called. */
export function followInbox(conversationID: string | undefined, h: StreamHandlers): () => void {
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
  const url = "/api/v1/conversations/events" + (conversationID ? "?conversation_id=" + encodeURIComponent(conversationID) : "");

  const once = async () => {
    const res = await authorizedFetch(url, { signal: stop.signal, headers: { Accept: "text/event-stream" } });
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
        if (!data.length) continue;
        try {
          const v = JSON.parse(data.join("\n"));
          if (event === "delta") h.onDelta(v as DeltaEvent);
          else h.onActivity(v as ActivityEvent);
        } catch {
          // a malformed event is skipped
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
        if (e instanceof ApiError && (e.status === 401 || e.status === 404)) return;
      }
      if (stop.signal.aborted) return;
      h.onState("reconnecting");
      attempt++;
      await sleep(Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)));
    }
  })();
  return () => stop.abort();
}
