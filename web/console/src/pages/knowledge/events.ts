// The live document states over GET /api/v1/documents/events (read by api/stream.ts): the
// stream reconnects with backoff; after every (re)connect the caller reloads the list, since
// changes made while disconnected were not streamed.
import { followStream, type StreamState } from "../../api/stream";

export type { StreamState };

export interface DocumentEvent {
  document_id: string;
  status: string;
  chunks: number;
  error?: string;
  occurred_at: string;
}

export interface StreamHandlers {
  onEvent: (e: DocumentEvent) => void;
  onState: (s: StreamState) => void;
  /** Called when the stream is (again) live. */
  onConnected: () => void;
}

/** Follows the document events until the returned function is called. */
export function followDocumentEvents(h: StreamHandlers): () => void {
  return followStream("/api/v1/documents/events", {
    onEvent: (event, data) => {
      if (event === "document") h.onEvent(data as DocumentEvent);
    },
    onState: h.onState,
    onConnected: h.onConnected,
  });
}
