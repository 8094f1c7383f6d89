// The Knowledge page: everything the coach answers from. Upload (drag and drop or the file
// picker, several files at once, per-file progress), URL import, the document list with search
// and filters, live indexing states over the event stream, replace, delete and reindex.
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type FormEvent } from "react";
import { api, ApiError, errorText, type Document, type DocumentFormat, type DocumentStatus } from "../../api/client";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { Page } from "../../ui/Page";
import { followDocumentEvents, type DocumentEvent, type StreamState } from "./events";
import { uploadFile, type UploadHandle } from "./upload";

const statuses: DocumentStatus[] = ["queued", "extracting", "chunking", "embedding", "indexed", "failed", "deleting"];
const formats: DocumentFormat[] = ["pdf", "docx", "pptx", "epub", "html", "markdown", "text", "csv"];
const formatNames: Record<DocumentFormat, string> = {
  pdf: "PDF",
  docx: "Word (DOCX)",
  pptx: "PowerPoint (PPTX)",
  epub: "EPUB",
  html: "Web page (HTML)",
  markdown: "Markdown",
  text: "Plain text",
  csv: "CSV",
};
const statusNames: Record<DocumentStatus, string> = {
  queued: "Queued",
  extracting: "Extracting text",
  chunking: "Splitting into passages",
  embedding: "Embedding",
  indexed: "Indexed",
  failed: "Failed",
  deleting: "Deleting",
};
const inProgress = new Set<string>(["queued", "extracting", "chunking", "embedding"]);
// Uploads sent at once; the rest wait their turn.
const parallelUploads = 3;
const pageSize = 50;

interface Filters {
  q: string;
  status: DocumentStatus | "";
  format: DocumentFormat | "";
}

type UploadState = "waiting" | "uploading" | "done" | "duplicate" | "failed" | "cancelled";

interface Upload {
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
 * The document as an API answer gives it, except that a state the event stream delivered after
 * that answer was read wins (an answer can be older than the events that overtook it).
 */
function merge(shown: Document, answer: Document): Document {
  if (Date.parse(shown.updated_at) <= Date.parse(answer.updated_at)) return answer;
  const { status, error, chunk_count, chunks_done, updated_at } = shown;
  return { ...answer, status, error, chunk_count, chunks_done, updated_at };
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export default function Knowledge() {
  const [docs, setDocs] = useState<Document[]>([]);
  const [next, setNext] = useState<number | undefined>();
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState("");
  const [filters, setFilters] = useState<Filters>({ q: "", status: "", format: "" });
  const [query, setQuery] = useState("");
  const [stream, setStream] = useState<StreamState>("connecting");
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [anyDocs, setAnyDocs] = useState<boolean | null>(null);

  const filtered = filters.q !== "" || filters.status !== "" || filters.format !== "";
  const loadAbort = useRef<AbortController | null>(null);
  const titles = useRef(new Map<string, string>());
  const gone = useRef(new Set<string>());
  const handles = useRef(new Map<number, UploadHandle>());
  const queue = useRef<{ key: number; file: File; replaceID?: string }[]>([]);
  const nextKey = useRef(1);
  const replaceInput = useRef<HTMLInputElement>(null);
  const replaceTarget = useRef<Document | null>(null);

  const announce = useCallback((text: string) => {
    // Re-set even an identical text so it is announced again.
    setAnnouncement("");
    setTimeout(() => setAnnouncement(text), 50);
  }, []);

  const remember = (list: Document[]) => list.forEach((d) => titles.current.set(d.id, d.title));

  // Loads the first page for the filters (or appends the next page).
  const load = useCallback(
    async (more?: number) => {
      loadAbort.current?.abort();
      const ctl = new AbortController();
      loadAbort.current = ctl;
      if (more === undefined) setLoading(true);
      try {
        const out = await api("get", "/api/v1/documents", {
          query: {
            q: filters.q || undefined,
            status: filters.status || undefined,
            format: filters.format || undefined,
            limit: pageSize,
            offset: more,
          },
          signal: ctl.signal,
        });
        remember(out.documents);
        setDocs((old) => {
          // An event newer than this answer wins (the list was read before it), and a document
          // whose delete finished stays gone.
          const byID = new Map(old.map((d) => [d.id, d]));
          const fresh = out.documents
            .filter((d) => !gone.current.has(d.id))
            .map((d) => {
              const o = byID.get(d.id);
              return o ? merge(o, d) : d;
            });
          return more === undefined ? fresh : [...old, ...fresh.filter((d) => !byID.has(d.id))];
        });
        setNext(out.next_offset);
        setLoadError("");
        if (!filtered) setAnyDocs(out.documents.length > 0);
        else if (out.documents.length > 0) setAnyDocs(true);
      } catch (e) {
        if (ctl.signal.aborted) return;
        setLoadError(errorText(e));
      } finally {
        if (loadAbort.current === ctl) setLoading(false);
      }
    },
    [filters, filtered],
  );

  useEffect(() => {
    void load();
  }, [load]);

  // The search box filters after a short pause in typing.
  useEffect(() => {
    const t = setTimeout(() => setFilters((f) => (f.q === query.trim() ? f : { ...f, q: query.trim() })), 300);
    return () => clearTimeout(t);
  }, [query]);

  // Live states.
  const loadRef = useRef(load);
  loadRef.current = load;
  const docsRef = useRef(docs);
  docsRef.current = docs;
  const reloadSoon = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    const onEvent = (e: DocumentEvent) => {
      const title = titles.current.get(e.document_id);
      if (e.status === "deleted") {
        gone.current.add(e.document_id);
        setDocs((list) => list.filter((d) => d.id !== e.document_id));
        if (title) announce(`${title} deleted.`);
        return;
      }
      const status = e.status as DocumentStatus;
      const known = docsRef.current.some((d) => d.id === e.document_id);
      setDocs((list) =>
        list.map((d) => {
          if (d.id !== e.document_id) return d;
          const chunks = e.chunks || d.chunk_count;
          return {
            ...d,
            status,
            error: e.error,
            chunk_count: chunks,
            chunks_done: status === "indexed" ? chunks : d.chunks_done,
            updated_at: e.occurred_at,
          };
        }),
      );
      if (title && status === "indexed") announce(`${title} is indexed.`);
      if (title && status === "failed") announce(`${title} failed to index: ${e.error ?? "unknown reason"}.`);
      // A document this page does not show yet (added elsewhere): reload the list.
      if (!known) {
        clearTimeout(reloadSoon.current);
        reloadSoon.current = setTimeout(() => void loadRef.current(), 300);
      }
    };
    const stop = followDocumentEvents({ onEvent, onState: setStream, onConnected: () => void loadRef.current() });
    return () => {
      stop();
      clearTimeout(reloadSoon.current);
    };
  }, [announce]);

  // A file dropped outside the drop zone must not make the browser leave the console to open it.
  useEffect(() => {
    const stop = (e: globalThis.DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
    };
    window.addEventListener("dragover", stop);
    window.addEventListener("drop", stop);
    return () => {
      window.removeEventListener("dragover", stop);
      window.removeEventListener("drop", stop);
    };
  }, []);

  // Cancel running uploads when the page goes away.
  useEffect(() => {
    const hs = handles.current;
    return () => hs.forEach((h) => h.abort());
  }, []);

  const patchUpload = (key: number, patch: Partial<Upload>) => setUploads((list) => list.map((u) => (u.key === key ? { ...u, ...patch } : u)));

  const upsert = (d: Document) => {
    titles.current.set(d.id, d.title);
    setAnyDocs(true);
    setDocs((list) => (list.some((x) => x.id === d.id) ? list.map((x) => (x.id === d.id ? merge(x, d) : x)) : [d, ...list]));
  };

  const pump = () => {
    while (handles.current.size < parallelUploads && queue.current.length > 0) {
      const job = queue.current.shift()!;
      const h = uploadFile(job.file, (sent) => patchUpload(job.key, { sent }), job.replaceID);
      handles.current.set(job.key, h);
      patchUpload(job.key, { state: "uploading" });
      h.done
        .then((d) => {
          patchUpload(job.key, { state: d.duplicate ? "duplicate" : "done", sent: job.file.size, docID: d.id });
          upsert(d);
          announce(d.duplicate ? `${job.file.name} is already in your knowledge as ${d.title}.` : `${job.file.name} uploaded.`);
        })
        .catch((e: unknown) => {
          const cancelled = e instanceof ApiError && e.code === "aborted";
          patchUpload(job.key, { state: cancelled ? "cancelled" : "failed", error: cancelled ? undefined : errorText(e) });
          if (!cancelled) announce(`${job.file.name} was not uploaded: ${errorText(e)}`);
        })
        .finally(() => {
          handles.current.delete(job.key);
          pump();
        });
    }
  };

  const addFiles = (files: FileList | File[], replace?: Document) => {
    const list = Array.from(files);
    if (list.length === 0) return;
    const added: Upload[] = list.map((f) => {
      const key = nextKey.current++;
      queue.current.push({ key, file: f, replaceID: replace?.id });
      return { key, name: f.name, size: f.size, sent: 0, state: "waiting", replacing: replace?.title };
    });
    setUploads((u) => [...added, ...u]);
    announce(replace ? `Replacing ${replace.title} with ${list[0].name}.` : `Uploading ${list.length} file${list.length === 1 ? "" : "s"}.`);
    pump();
  };

  const cancelUpload = (key: number) => {
    const h = handles.current.get(key);
    if (h) h.abort();
    else {
      queue.current = queue.current.filter((j) => j.key !== key);
      patchUpload(key, { state: "cancelled" });
    }
  };

  const act = async (what: () => Promise<unknown>, ok: string) => {
    setNotice(null);
    try {
      await what();
      setNotice({ kind: "ok", text: ok });
    } catch (e) {
      setNotice({ kind: "error", text: errorText(e) });
    }
  };

  const reindex = (d: Document) =>
    act(async () => upsert(await api("post", "/api/v1/documents/{id}/reindex", { path: { id: d.id } })), `${d.title} is queued for reindexing.`);

  const remove = (d: Document) =>
    setConfirm({
      title: `Delete “${d.title}”?`,
      message: "Its passages leave the index and your coach stops answering from it. The original file is removed. This cannot be undone.",
      confirm: "Delete document",
      danger: true,
      onConfirm: () =>
        void act(async () => upsert(await api("delete", "/api/v1/documents/{id}", { path: { id: d.id } })), `${d.title} is being deleted.`),
    });

  const reindexAll = () =>
    setConfirm({
      title: "Reindex every document?",
      message:
        "Each document is split and indexed again, for example to add vectors once an embedding model is available. Your coach keeps answering meanwhile.",
      confirm: "Reindex all",
      onConfirm: () =>
        void act(async () => {
          const out = await api("post", "/api/v1/documents/reindex", {});
          await load();
          return out;
        }, "Every document is queued for reindexing."),
    });

  const startReplace = (d: Document) => {
    replaceTarget.current = d;
    replaceInput.current?.click();
  };

  const clearFilters = () => {
    setQuery("");
    setFilters({ q: "", status: "", format: "" });
  };

  const finished = uploads.some((u) => u.state !== "waiting" && u.state !== "uploading");

  return (
    <Page
      title="Knowledge"
      actions={
        <button type="button" className="button secondary" onClick={reindexAll} disabled={!anyDocs}>
          Reindex all
        </button>
      }
    >
      <p className="lead">
        Your coach answers from these documents and cites them. Add files or web pages; each is split into passages and indexed, live below.
      </p>
      <p className="visually-hidden" aria-live="polite" role="status">
        {announcement}
      </p>

      <section className="add-grid" aria-labelledby="add-heading">
        <h2 id="add-heading" className="visually-hidden">
          Add knowledge
        </h2>
        <DropZone onFiles={(f) => addFiles(f)} />
        <ImportForm onImported={(d) => { upsert(d); announce(d.duplicate ? `That page is already in your knowledge as ${d.title}.` : `${d.title} imported.`); }} />
      </section>

      {uploads.length > 0 && (
        <section className="panel" aria-labelledby="uploads-heading">
          <div className="panel-head">
            <h2 id="uploads-heading">Uploads</h2>
            {finished && (
              <button type="button" className="button link" onClick={() => setUploads((u) => u.filter((x) => x.state === "waiting" || x.state === "uploading"))}>
                Clear finished
              </button>
            )}
          </div>
          <ul className="uploads">
            {uploads.map((u) => (
              <UploadRow key={u.key} u={u} doc={docs.find((d) => d.id === u.docID)} onCancel={() => cancelUpload(u.key)} />
            ))}
          </ul>
        </section>
      )}

      <section className="panel" aria-labelledby="docs-heading">
        <div className="panel-head">
          <h2 id="docs-heading">Documents</h2>
          <LiveBadge state={stream} />
        </div>
        <form className="filters" role="search" aria-label="Documents" onSubmit={(e) => e.preventDefault()}>
          <div className="field">
            <label htmlFor="doc-search">Search titles</label>
            <input id="doc-search" type="search" value={query} onChange={(e) => setQuery(e.target.value)} maxLength={200} autoComplete="off" />
          </div>
          <div className="field">
            <label htmlFor="doc-status">Status</label>
            <select id="doc-status" value={filters.status} onChange={(e) => setFilters((f) => ({ ...f, status: e.target.value as Filters["status"] }))}>
              <option value="">Any status</option>
              {statuses.map((s) => (
                <option key={s} value={s}>
                  {statusNames[s]}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="doc-format">Format</label>
            <select id="doc-format" value={filters.format} onChange={(e) => setFilters((f) => ({ ...f, format: e.target.value as Filters["format"] }))}>
              <option value="">Any format</option>
              {formats.map((f) => (
                <option key={f} value={f}>
                  {formatNames[f]}
                </option>
              ))}
            </select>
          </div>
          {(filtered || query !== "") && (
            <button type="button" className="button secondary" onClick={clearFilters}>
              Clear filters
            </button>
          )}
        </form>

        {notice && (
          <p className={notice.kind === "ok" ? "notice" : "form-error"} role={notice.kind === "ok" ? "status" : "alert"}>
            {notice.text}
          </p>
        )}
        {loadError && (
          <div className="form-error" role="alert">
            <p>The documents could not be loaded: {loadError}</p>
            <button type="button" className="button secondary" onClick={() => void load()}>
              Try again
            </button>
          </div>
        )}

        {!loadError && !loading && docs.length === 0 && (
          <div className="empty">
            {filtered ? (
              <>
                <p className="empty-title">No documents match these filters.</p>
                <button type="button" className="button secondary" onClick={clearFilters}>
                  Clear filters
                </button>
              </>
            ) : (
              <>
                <p className="empty-title">No knowledge yet</p>
                <p>
                  Your coach has nothing to answer from. Drop files above or choose them (PDF, Word, PowerPoint, EPUB, HTML, Markdown, text, CSV), or
                  import a web page by its address.
                </p>
              </>
            )}
          </div>
        )}
        {loading && docs.length === 0 && !loadError && (
          <p className="page-loading" role="status">
            Loading documents…
          </p>
        )}
        {docs.length > 0 && (
          <DocumentTable docs={docs} onReplace={startReplace} onReindex={(d) => void reindex(d)} onDelete={remove} />
        )}
        {next !== undefined && (
          <button type="button" className="button secondary" onClick={() => void load(next)}>
            Load more documents
          </button>
        )}
      </section>

      <input
        ref={replaceInput}
        id="replace-input"
        type="file"
        hidden
        aria-hidden="true"
        tabIndex={-1}
        onChange={(e) => {
          const d = replaceTarget.current;
          if (d && e.target.files && e.target.files.length > 0) addFiles([e.target.files[0]], d);
          e.target.value = "";
        }}
      />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </Page>
  );
}

function DropZone({ onFiles }: { onFiles: (f: FileList) => void }) {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const isFiles = (e: DragEvent) => e.dataTransfer.types.includes("Files");
  return (
    <div
      className={over ? "dropzone over" : "dropzone"}
      onDragEnter={(e) => {
        if (!isFiles(e)) return;
        e.preventDefault();
        depth.current++;
        setOver(true);
      }}
      onDragOver={(e) => {
        if (!isFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "copy";
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        depth.current = 0;
        setOver(false);
        if (e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
      }}
    >
      <p className="dropzone-title">Drop files here</p>
      <p className="hint">PDF, Word, PowerPoint, EPUB, HTML, Markdown, plain text or CSV; several at once.</p>
      <input
        id="upload-input"
        className="file-input"
        type="file"
        multiple
        onChange={(e) => {
          if (e.target.files) onFiles(e.target.files);
          e.target.value = "";
        }}
      />
      <label htmlFor="upload-input" className="button primary">
        Choose files
      </label>
    </div>
  );
}

function ImportForm({ onImported }: { onImported: (d: Document) => void }) {
  const [url, setURL] = useState("");
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const d = await api("post", "/api/v1/documents/import", { body: { url: url.trim(), title: title.trim() || undefined } });
      onImported(d);
      setURL("");
      setTitle("");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="import" onSubmit={submit} aria-labelledby="import-heading">
      <h3 id="import-heading">Import a web page</h3>
      <div className="field">
        <label htmlFor="import-url">Page address</label>
        <input
          id="import-url"
          type="url"
          required
          placeholder="https://example.com/guide"
          value={url}
          onChange={(e) => setURL(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "import-error" : undefined}
        />
      </div>
      <div className="field">
        <label htmlFor="import-title">Title (optional)</label>
        <input id="import-title" type="text" maxLength={300} value={title} onChange={(e) => setTitle(e.target.value)} />
      </div>
      {error && (
        <p className="field-error" id="import-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button secondary" disabled={busy}>
        {busy ? "Fetching the page…" : "Import"}
      </button>
    </form>
  );
}

function UploadRow({ u, doc, onCancel }: { u: Upload; doc?: Document; onCancel: () => void }) {
  const pct = u.size > 0 ? Math.min(100, Math.round((u.sent / u.size) * 100)) : u.state === "done" ? 100 : 0;
  let text: string;
  switch (u.state) {
    case "waiting":
      text = "Waiting…";
      break;
    case "uploading":
      text = `Uploading, ${pct}%`;
      break;
    case "done":
      text = doc ? `Uploaded · ${statusNames[doc.status]}` : "Uploaded";
      break;
    case "duplicate":
      text = `Already in your knowledge${doc ? ` as “${doc.title}”` : ""}; nothing was added.`;
      break;
    case "cancelled":
      text = "Cancelled";
      break;
    default:
      text = `Not uploaded: ${u.error}`;
  }
  const id = `upload-${u.key}`;
  return (
    <li className={`upload upload-${u.state}`} data-upload-state={u.state}>
      <div className="upload-main">
        <span className="upload-name" id={id}>
          {u.replacing ? `${u.name} (replaces “${u.replacing}”)` : u.name}
        </span>
        <span className="upload-size">{formatBytes(u.size)}</span>
      </div>
      <progress max={100} value={u.state === "failed" || u.state === "cancelled" ? 0 : pct} aria-labelledby={id} />
      <div className="upload-foot">
        <span className={u.state === "failed" ? "upload-status error-text" : "upload-status"}>{text}</span>
        {(u.state === "waiting" || u.state === "uploading") && (
          <button type="button" className="button link" onClick={onCancel}>
            Cancel<span className="visually-hidden"> upload of {u.name}</span>
          </button>
        )}
      </div>
    </li>
  );
}

function LiveBadge({ state }: { state: StreamState }) {
  const label = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…";
  return (
    <span className={`live live-${state}`} role="status" title="Indexing states update as they happen">
      <span aria-hidden="true" className="live-dot" />
      {label}
    </span>
  );
}

function StatusBadge({ d }: { d: Document }) {
  const detail = useMemo(() => {
    if (d.status === "embedding" && d.chunk_count > 0) return `${d.chunks_done} of ${d.chunk_count} passages`;
    if (d.status === "indexed") {
      const n = `${d.chunk_count} passage${d.chunk_count === 1 ? "" : "s"}`;
      return d.search_mode === "bm25" ? `${n} · keyword search only, reindex to add vectors` : n;
    }
    return "";
  }, [d]);
  return (
    <div className="status-cell">
      <span className={`badge badge-${d.status}`} data-status={d.status}>
        {inProgress.has(d.status) && <span className="spinner" aria-hidden="true" />}
        {statusNames[d.status] ?? d.status}
      </span>
      {detail && <span className="status-detail">{detail}</span>}
      {d.status === "failed" && d.error && <span className="status-detail error-text">{d.error}</span>}
    </div>
  );
}

function DocumentTable({
  docs,
  onReplace,
  onReindex,
  onDelete,
}: {
  docs: Document[];
  onReplace: (d: Document) => void;
  onReindex: (d: Document) => void;
  onDelete: (d: Document) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="docs">
        <caption className="visually-hidden">Your documents, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Document</th>
            <th scope="col">Status</th>
            <th scope="col">Format</th>
            <th scope="col">Size</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {docs.map((d) => {
            const deleting = d.status === "deleting";
            return (
              <tr key={d.id} data-doc-id={d.id} data-status={d.status}>
                <th scope="row" className="doc-title">
                  <span className="title-text">{d.title}</span>
                  {d.source_url ? (
                    <span className="doc-sub">{d.source_url}</span>
                  ) : (
                    d.filename && d.filename !== d.title && <span className="doc-sub">{d.filename}</span>
                  )}
                </th>
                <td data-label="Status">
                  <StatusBadge d={d} />
                </td>
                <td data-label="Format">{formatNames[d.format] ?? d.format}</td>
                <td data-label="Size">{formatBytes(d.size_bytes)}</td>
                <td data-label="Updated">
                  <time dateTime={d.updated_at}>{dateFormat.format(new Date(d.updated_at))}</time>
                </td>
                <td className="actions-cell">
                  <div className="actions">
                    <button type="button" className="button small secondary" disabled={deleting} onClick={() => onReplace(d)}>
                      Replace<span className="visually-hidden"> {d.title}</span>
                    </button>
                    <button type="button" className="button small secondary" disabled={deleting} onClick={() => onReindex(d)}>
                      Reindex<span className="visually-hidden"> {d.title}</span>
                    </button>
                    <button type="button" className="button small danger-outline" disabled={deleting} onClick={() => onDelete(d)}>
                      Delete<span className="visually-hidden"> {d.title}</span>
                    </button>
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
