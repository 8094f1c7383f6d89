// The Programs page: the list of drip programs with their status (/programs), and the visual
// builder of one (/programs/new, /programs/<id>), a chunk of its own because of the graph editor.
import { lazy, Suspense, useEffect, useState } from "react";
import { api, errorText } from "../../api/client";
import { useCan } from "../../api/perms";
import { Link, navigate } from "../../router";
import { Page } from "../../ui/Page";
import type { Program } from "./model";

const Builder = lazy(() => import("./Builder"));

export default function Programs({ path }: { path: string }) {
  const rest = path.replace(/^\/programs\/?/, "");
  if (rest) {
    return (
      <Suspense
        fallback={
          <p className="page-loading" role="status">
            Loading the builder…
          </p>
        }
      >
        <Builder key={rest} id={rest === "new" ? "" : rest} />
      </Suspense>
    );
  }
  return <ProgramList />;
}

const statusLabel: Record<Program["status"], string> = { active: "Active", paused: "Paused", archived: "Archived" };

export function StatusBadge({ status }: { status: Program["status"] }) {
  return <span className={`badge badge-program-${status}`}>{statusLabel[status]}</span>;
}

function ProgramList() {
  const canWrite = useCan()("programs.write");
  const [list, setList] = useState<Program[] | null>(null);
  const [error, setError] = useState("");
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    setError("");
    api("get", "/api/v1/programs", { signal: ctl.signal })
      .then((r) => setList(r.programs))
      .catch((e) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      });
    return () => ctl.abort();
  }, [attempt]);

  return (
    <Page
      title="Programs"
      actions={
        canWrite && (
          <button type="button" className="button primary" onClick={() => navigate("/programs/new")}>
            New program
          </button>
        )
      }
    >
      <p className="lead">
        Programs send a sequence of messages after someone joins — by typing the program's keyword or when you enrol them. Build
        each one as a graph: steps, the delay to the next step, and what a reply does.
      </p>
      {error && (
        <div className="form-error" role="alert">
          <p>Programs could not be loaded: {error}</p>
          <button type="button" className="button secondary small" onClick={() => setAttempt((a) => a + 1)}>
            Try again
          </button>
        </div>
      )}
      {!list && !error && (
        <p className="page-loading" role="status">
          Loading programs…
        </p>
      )}
      {list && list.length === 0 && (
        <div className="empty panel">
          <p className="empty-title">No programs yet</p>
          <p>
            {canWrite
              ? "Create one with New program: add steps on the canvas, connect them, and save."
              : "Programs your team builds show here; building them is for editors, admins and the owner."}
          </p>
        </div>
      )}
      {list && list.length > 0 && (
        <div className="table-wrap panel" role="region" aria-label="Programs" tabIndex={0}>
          <table className="docs programs-table">
            <caption className="visually-hidden">Your programs</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Keyword</th>
                <th scope="col">Steps</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <tr key={p.id} data-program-id={p.id} data-status={p.status}>
                  <th scope="row" className="doc-title">
                    <Link to={`/programs/${p.id}`}>{p.name}</Link>
                  </th>
                  <td data-label="Keyword">{p.keyword ? <code>{p.keyword}</code> : <span className="hint">none</span>}</td>
                  <td data-label="Steps">{p.steps.length}</td>
                  <td data-label="Status">
                    <StatusBadge status={p.status} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
