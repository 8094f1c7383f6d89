// The parts of the Knowledge page: drop zone, import form, upload rows, live badge, the table.
import { useMemo, useRef, useState, type DragEvent, type FormEvent } from "react";
import { api, errorText, type Document } from "../../api/client";
import type { StreamState } from "./events";
import { dateFormat, formatBytes, formatNames, inProgress, statusNames, type Upload } from "./model";

export function DropZone({ onFiles }: { onFiles: (f: FileList) => void }) {
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

export function ImportForm({ onImported }: { onImported: (d: Document) => void }) {
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

export function UploadRow({ u, doc, onCancel }: { u: Upload; doc?: Document; onCancel: () => void }) {
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
      text = doc ? `Uploaded · ${statusNames[doc.status]}${doc.status === "failed" && doc.error ? `: ${doc.error}` : ""}` : "Uploaded";
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

export function LiveBadge({ state }: { state: StreamState }) {
  const label = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…";
  return (
    <span className={`live live-${state}`} role="status" title="Indexing states update as they happen">
      <span aria-hidden="true" className="live-dot" />
      {label}
    </span>
  );
}

export function StatusBadge({ d }: { d: Document }) {
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

export function DocumentTable({
  docs,
  onReplace,
  onReindex,
  onDelete,
  writable,
}: {
  docs: Document[];
  onReplace: (d: Document) => void;
  onReindex: (d: Document) => void;
  onDelete: (d: Document) => void;
  /** Whether the member may change documents (knowledge.write): else no row actions. */
  writable: boolean;
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
            {writable && (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            )}
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
                {writable && (
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
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
