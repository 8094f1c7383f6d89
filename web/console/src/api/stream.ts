// Server-sent event streams of the API (documents, conversations). They need the Authorization
// header, which EventSource cannot send, so they are read with fetch and parsed here. A stream
// reconnects with backoff; after every (re)connect the caller reloads, since changes made while
// disconnected were not streamed. It stops for good when the API refuses it for who is asking
// (401: signed out; 403: the role may not read it; 404: what it follows is gone).
import { authorizedFetch } from "./client";
import { ApiError } from "./errors";

export type StreamState = "connecting" | "live" | "reconnecting";

export interface StreamHandlers {
  /** One event: its name ("message" when the stream names none) and its JSON data. */
  onEvent: (event: string, data: unknown) => void;
  onState: (s: StreamState) => void;
  /** Called when the stream is (again) live. */
  onConnected: () => void;
}

/** Follows the event stream at url until the returned function is called. */
export function followStream(url: string, h: StreamHandlers): () => void {
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
        if (!data.length) continue;
        let v: unknown;
        try {
          v = JSON.parse(data.join("\n"));
        } catch {
          continue; // a malformed event is skipped
        }
        h.onEvent(event, v);
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
        if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) return;
      }
      if (stop.signal.aborted) return;
      h.onState("reconnecting");
      attempt++;
      await sleep(Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)));
    }
  })();
  return () => stop.abort();
}
