// The Knowledge page: everything the coach answers from. Upload (drag and drop or the file
// picker, several files at once, per-file progress), URL import, the document list with search
// and filters, live indexing states over the event stream, replace, delete and reindex.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, errorText, type Document, type DocumentFormat, type DocumentStatus } from "../../api/client";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { Page } from "../../ui/Page";
import { followDocumentEvents, type DocumentEvent, type StreamState } from "./events";
import { formatNames, formats, merge, statuses, statusNames, type Upload } from "./model";
import { useCan } from "../../api/perms";
import { DocumentTable, DropZone, ImportForm, LiveBadge, UploadRow } from "./parts";
import { uploadFile, type UploadHandle } from "./upload";
import { TryQuestion } from "./TryQuestion";

// Uploads sent at once; the rest wait their turn.
const parallelUploads = 3;
const pageSize = 50;

interface Filters {
  q: string;
  status: DocumentStatus | "";
  format: DocumentFormat | "";
}

export default function Knowledge() {
  const writable = useCan()("knowledge.write");
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
  // Events counted as they arrive, and the count at each document's latest event: an API answer
  // requested before that event is older than the state it brought.
  const eventCount = useRef(0);
  const lastEvent = useRef(new Map<string, number>());
  const liveSince = (start: number, id: string) => (lastEvent.current.get(id) ?? -1) >= start;
  // Documents not on the page that events were seen for (the list was reloaded once for each).
  const unseen = useRef(new Set<string>());
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
      const start = eventCount.current;
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
          // A state that arrived live after the request wins, and a document whose delete
          // finished stays gone.
          const byID = new Map(old.map((d) => [d.id, d]));
          const fresh = out.documents
            .filter((d) => !gone.current.has(d.id))
            .map((d) => {
              const o = byID.get(d.id);
              return o ? merge(o, d, liveSince(start, d.id)) : d;
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
      lastEvent.current.set(e.document_id, eventCount.current++);
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
      // A document this page does not show yet (added elsewhere, or racing its upload's
      // answer): reload the list, once per document, and again when it has finished (it may
      // only now match the status filter).
      const settled = status === "indexed" || status === "failed";
      if (!known && (!unseen.current.has(e.document_id) || settled)) {
        unseen.current.add(e.document_id);
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

  // While documents are embedding, their progress (passages written) is read every few seconds:
  // the event stream announces state changes only.
  const embedding = docs
    .filter((d) => d.status === "embedding")
    .slice(0, 10)
    .map((d) => d.id)
    .join(",");
  useEffect(() => {
    if (!embedding) return;
    const ctl = new AbortController();
    const timer = setInterval(() => {
      for (const id of embedding.split(",")) {
        const start = eventCount.current;
        api("get", "/api/v1/documents/{id}", { path: { id }, signal: ctl.signal })
          .then((d) => setDocs((list) => list.map((x) => (x.id === d.id ? merge(x, d, liveSince(start, d.id)) : x))))
          .catch(() => {
            // the next state event or tick catches up
          });
      }
    }, 2000);
    return () => {
      clearInterval(timer);
      ctl.abort();
    };
  }, [embedding]);

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

  /**
   * Shows an API answer for a document. start is the event count when the request was sent; a
   * new document's answer (upload, import) passes 0: every event for it is newer.
   */
  const upsert = (d: Document, start: number) => {
    if (gone.current.has(d.id)) return; // its delete finished while the answer was on its way
    titles.current.set(d.id, d.title);
    setAnyDocs(true);
    setDocs((list) => (list.some((x) => x.id === d.id) ? list.map((x) => (x.id === d.id ? merge(x, d, liveSince(start, d.id)) : x)) : [d, ...list]));
  };

  const pump = () => {
    while (handles.current.size < parallelUploads && queue.current.length > 0) {
      const job = queue.current.shift()!;
      // A replace changes a document the page already follows: events before it are older.
      const start = job.replaceID ? eventCount.current : 0;
      const h = uploadFile(job.file, (sent) => patchUpload(job.key, { sent }), job.replaceID);
      handles.current.set(job.key, h);
      patchUpload(job.key, { state: "uploading" });
      h.done
        .then((d) => {
          patchUpload(job.key, { state: d.duplicate ? "duplicate" : "done", sent: job.file.size, docID: d.id });
          upsert(d, start);
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
    act(async () => {
      const start = eventCount.current;
      upsert(await api("post", "/api/v1/documents/{id}/reindex", { path: { id: d.id } }), start);
    }, `${d.title} is queued for reindexing.`);

  const remove = (d: Document) =>
    setConfirm({
      title: `Delete “${d.title}”?`,
      message: "Its passages leave the index and your coach stops answering from it. The original file is removed. This cannot be undone.",
      confirm: "Delete document",
      danger: true,
      onConfirm: () =>
        void act(async () => {
          const start = eventCount.current;
          upsert(await api("delete", "/api/v1/documents/{id}", { path: { id: d.id } }), start);
        }, `${d.title} is being deleted.`),
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
        writable && (
          <button type="button" className="button secondary" onClick={reindexAll} disabled={!anyDocs}>
            Reindex all
          </button>
        )
      }
    >
      <p className="lead">
        Your coach answers from these documents and cites them. Add files or web pages; each is split into passages and indexed, live below.
      </p>
      <p className="visually-hidden" aria-live="polite" role="status">
        {announcement}
      </p>

      {!writable && (
        <p className="read-only-reason">Your role can read the knowledge but not change it: owners, admins and editors can.</p>
      )}
      {writable && (
      <section className="add-grid" aria-labelledby="add-heading">
        <h2 id="add-heading" className="visually-hidden">
          Add knowledge
        </h2>
        <DropZone onFiles={(f) => addFiles(f)} />
        <ImportForm
          onImported={(d) => {
            upsert(d, 0);
            announce(d.duplicate ? `That page is already in your knowledge as ${d.title}.` : `${d.title} imported.`);
          }}
        />
      </section>
      )}

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
          <DocumentTable docs={docs} onReplace={startReplace} onReindex={(d) => void reindex(d)} onDelete={remove} writable={writable} />
        )}
        {next !== undefined && (
          <button type="button" className="button secondary" onClick={() => void load(next)}>
            Load more documents
          </button>
        )}
      </section>

      <TryQuestion />

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

