// The live inbox: GET /api/v1/conversations/events is a server-sent event stream that needs the
// Authorization header, which EventSource cannot send, so it is read with fetch and parsed here
// (api/stream.ts, as the Knowledge page's document events). With a conversation id it also carries that
// conversation's reply as the bot writes it ("delta"). The stream reconnects with backoff; after
// every (re)connect the caller reloads, since changes made while disconnected were not streamed.
import { followStream, type StreamState } from "../../api/stream";

export type { StreamState };

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

export interface StreamHandlers {
  onActivity: (e: ActivityEvent) => void;
  onDelta: (e: DeltaEvent) => void;
  onState: (s: StreamState) => void;
  /** Called when the stream is (again) live. */
  onConnected: () => void;
}

/** Follows the conversation events (and one conversation's deltas) until the returned function is called. */
export function followInbox(conversationID: string | undefined, h: StreamHandlers): () => void {
  const url = "/api/v1/conversations/events" + (conversationID ? "?conversation_id=" + encodeURIComponent(conversationID) : "");
  return followStream(url, {
    onEvent: (event, data) => {
      if (event === "delta") h.onDelta(data as DeltaEvent);
      else h.onActivity(data as ActivityEvent);
    },
    onState: h.onState,
    onConnected: h.onConnected,
  });
}
