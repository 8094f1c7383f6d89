// What the Knowledge page shows of documents and uploads: names, states and how to combine an
// API answer with the live states.
import type { Document, DocumentFormat, DocumentStatus } from "../../api/client";

export const statuses: DocumentStatus[] = ["queued", "extracting", "chunking", "embedding", "indexed", "failed", "deleting"];
export const formats: DocumentFormat[] = ["pdf", "docx", "pptx", "epub", "html", "markdown", "text", "csv"];
export const formatNames: Record<DocumentFormat, string> = {
  pdf: "PDF",
  docx: "Word (DOCX)",
  pptx: "PowerPoint (PPTX)",
  epub: "EPUB",
  html: "Web page (HTML)",
  markdown: "Markdown",
  text: "Plain text",
  csv: "CSV",
};
export const statusNames: Record<DocumentStatus, string> = {
  queued: "Queued",
  extracting: "Extracting text",
  chunking: "Splitting into passages",
  embedding: "Embedding",
  indexed: "Indexed",
  failed: "Failed",
  deleting: "Deleting",
};
export const inProgress = new Set<string>(["queued", "extracting", "chunking", "embedding"]);

export type UploadState = "waiting" | "uploading" | "done" | "duplicate" | "failed" | "cancelled";

export interface Upload {
  key: number;
  name: string;
  size: number;
  sent: number;
  state: UploadState;
  error?: string;
  docID?: string;
  /** The title of the document this file replaces. */
  replacing?: string;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The document as an API answer gives it, except when the event stream delivered a state for it
 * after the request was sent (live is true): that state is newer than the answer. The order is
 * the page's own (a counter of events), never the server clocks.
 */
export function merge(shown: Document, answer: Document, live: boolean): Document {
  if (!live) return answer;
  const { status, error, updated_at } = shown;
  // Progress within a state (passages written while embedding) only comes from the API.
  const sameState = shown.status === answer.status;
  return {
    ...answer,
    status,
    error,
    updated_at,
    chunk_count: shown.chunk_count || answer.chunk_count,
    chunks_done: sameState ? Math.max(shown.chunks_done, answer.chunks_done) : shown.chunks_done,
  };
}

export const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
