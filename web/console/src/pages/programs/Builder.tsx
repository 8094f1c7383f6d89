// The program builder: steps are nodes on a React Flow canvas; a step's "next" edge (its delay)
// and its reply branch are edges drawn by dragging from the node's handles. The side panel edits
// the selected step and is also the complete keyboard path: pick a step, add one, choose its
// next step and reply target from lists, delete it. Every change is checked by the API
// (POST /api/v1/programs/validate) and the issues are shown on their nodes.
import {
  Background,
  Controls,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  applyNodeChanges,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
  type NodeProps,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { api, errorText } from "../../api/client";
import { useCan } from "../../api/perms";
import { Link, navigate } from "../../router";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { Page } from "../../ui/Page";
import {
  bodyOf,
  draftOf,
  freshID,
  issuesByNode,
  newNode,
  nodeHeight,
  sendProgram,
  whenLabel,
  type Counts,
  type Draft,
  type Issue,
  type Program,
  type StepNode,
} from "./model";
import { StatusBadge } from "./Programs";

/** "Step 3" for the ids the builder makes (s3), the id itself otherwise. */
export function stepTitle(id: string): string {
  const m = /^s(\d+)$/.exec(id);
  return m ? `Step ${m[1]}` : `Step ${id}`;
}

type StepData = {
  step: StepNode;
  first: boolean;
  issues: Issue[];
  counts?: Counts;
  saved: boolean;
};
type StepFlowNode = Node<StepData, "step">;

function excerpt(n: StepNode): string {
  const t = n.kind === "ai" ? n.brief : n.text;
  if (!t.trim()) return n.kind === "ai" ? "(no brief yet)" : "(no message yet)";
  return t.length > 90 ? t.slice(0, 88) + "…" : t;
}

function StepNodeView({ data, selected }: NodeProps<StepFlowNode>) {
  const { step, first, issues, counts, saved } = data;
  const errors = issues.filter((i) => i.severity === "error");
  const cls = ["step-node", errors.length ? "has-error" : issues.length ? "has-warning" : "", selected ? "is-selected" : ""].join(" ");
  return (
    <div className={cls} data-step-id={step.id} data-issues={issues.map((i) => i.code).join(" ")}>
      <Handle type="target" position={Position.Top} id="in" className="handle-in" />
      <div className="step-node-head">
        <strong>{stepTitle(step.id)}</strong>
        {first && <span className="step-start">Start</span>}
        <span className="step-when">{whenLabel(step)}</span>
      </div>
      <p className="step-node-text">
        {step.kind === "ai" && <span className="step-kind">AI · </span>}
        {excerpt(step)}
      </p>
      {saved && (
        <dl className="step-counts" aria-label="Counts">
          <div>
            <dt>Reached</dt>
            <dd data-count="reached">{counts?.reached ?? 0}</dd>
          </div>
          <div>
            <dt>Sent</dt>
            <dd data-count="sent">{counts?.sent ?? 0}</dd>
          </div>
          <div>
            <dt>Replied</dt>
            <dd data-count="replied">{counts?.replied ?? 0}</dd>
          </div>
          <div>
            <dt>Dropped</dt>
            <dd data-count="dropped">{counts?.dropped ?? 0}</dd>
          </div>
        </dl>
      )}
      {issues.length > 0 && (
        <ul className="step-issues">
          {issues.map((is, k) => (
            <li key={k} className={`step-issue step-issue-${is.severity}`} data-code={is.code}>
              <span aria-hidden="true">{is.severity === "error" ? "✖ " : "⚠ "}</span>
              {is.message}
            </li>
          ))}
        </ul>
      )}
      <div className="step-handles" aria-hidden="true">
        <span>next ↓</span>
        <span>on reply →</span>
      </div>
      <Handle type="source" position={Position.Bottom} id="next" className="handle-next" />
      <Handle type="source" position={Position.Right} id="reply" className="handle-reply" />
    </div>
  );
}

const nodeTypes = { step: StepNodeView };

function nodeLabel(n: StepNode, first: boolean, issues: Issue[], counts?: Counts): string {
  let s = `${stepTitle(n.id)}${first ? " (start)" : ""}, ${whenLabel(n)}: ${excerpt(n)}.`;
  if (counts) s += ` Reached ${counts.reached}, sent ${counts.sent}, replied ${counts.replied}, dropped ${counts.dropped}.`;
  const errors = issues.filter((i) => i.severity === "error").length;
  if (issues.length) s += ` ${errors} problem(s), ${issues.length - errors} warning(s): ${issues.map((i) => i.message).join(" ")}`;
  return s;
}

/** Days in the range the counts cover: the past year. */
function countsFrom(): string {
  const d = new Date(Date.now() - 364 * 24 * 3600 * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export default function Builder({ id }: { id: string }) {
  // Saving, checking (POST …/validate) and pause/resume/archive need programs.write (editor and up).
  const canWrite = useCan()("programs.write");
  const [program, setProgram] = useState<Program | null>(null);
  const [draft, setDraft] = useState<Draft | null>(id ? null : { name: "", keyword: "", nodes: [] });
  const [loadError, setLoadError] = useState("");
  const [selected, setSelected] = useState("");
  const [issues, setIssues] = useState<Issue[]>([]);
  const [checking, setChecking] = useState(false);
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState("");
  const [error, setError] = useState("");
  const [counts, setCounts] = useState<Map<string, Counts>>(new Map());
  const [countsNote, setCountsNote] = useState("");
  const [rfNodes, setRfNodes] = useState<StepFlowNode[]>([]);
  const [selectedEdges, setSelectedEdges] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);

  // Load.
  useEffect(() => {
    if (!id) return;
    const ctl = new AbortController();
    api("get", "/api/v1/programs/{id}", { path: { id }, signal: ctl.signal })
      .then((r) => {
        setProgram(r.program);
        setDraft(draftOf(r.program));
      })
      .catch((e) => {
        if (!ctl.signal.aborted) setLoadError(errorText(e));
      });
    return () => ctl.abort();
  }, [id]);

  // Per-step counts of the saved program (analytics funnel, the past year).
  const loadCounts = useCallback(
    async (p: Program) => {
      try {
        const r = await api("get", "/api/v1/analytics/programs", { query: { from: countsFrom() } });
        const m = new Map<string, Counts>();
        for (const row of r.steps) {
          if (row.program_id !== p.id) continue;
          const sid = p.steps[row.step]?.id;
          if (sid) m.set(sid, { reached: row.reached, sent: row.sent, replied: row.replied, dropped: row.dropped });
        }
        setCounts(m);
        setCountsNote(`Counts updated at ${new Date().toLocaleTimeString()}.`);
      } catch (e) {
        setCountsNote(`Counts could not be loaded: ${errorText(e)}`);
      }
    },
    [],
  );
  useEffect(() => {
    if (program) void loadCounts(program);
  }, [program, loadCounts]);

  // Check the program on the server while it is edited (not for moves: positions are not checked).
  const stepsKey = useMemo(() => (draft ? JSON.stringify(bodyOf(draft).steps) + "|" + draft.keyword : ""), [draft]);
  useEffect(() => {
    if (!draft) return;
    if (draft.nodes.length === 0 || !canWrite) {
      setIssues([]);
      return;
    }
    const ctl = new AbortController();
    const t = setTimeout(() => {
      setChecking(true);
      sendProgram("POST", "/api/v1/programs/validate", { ...bodyOf(draft), name: draft.name }, ctl.signal)
        .then((a) => {
          if (a.ok || a.status === 422) setIssues(a.issues);
          else setIssues([]);
          setChecking(false);
        })
        .catch(() => undefined);
    }, 350);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stepsKey, canWrite]);

  const nodes = draft?.nodes ?? [];
  const byNode = useMemo(() => issuesByNode(nodes, issues), [nodes, issues]);
  const programIssues = issues.filter((i) => i.step < 0);
  const errorCount = issues.filter((i) => i.severity === "error").length;
  const warningCount = issues.length - errorCount;

  // The canvas's nodes: the draft's, keeping what React Flow measured.
  useEffect(() => {
    setRfNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return nodes.map((n, i) => {
        const is = byNode.get(n.id) ?? [];
        const c = counts.get(n.id);
        return {
          ...(old.get(n.id) ?? {}),
          id: n.id,
          type: "step" as const,
          position: { x: n.x, y: n.y },
          selected: n.id === selected,
          ariaLabel: nodeLabel(n, i === 0, is, program ? c ?? { reached: 0, sent: 0, replied: 0, dropped: 0 } : undefined),
          data: { step: n, first: i === 0, issues: is, counts: c, saved: !!program },
        };
      });
    });
  }, [nodes, byNode, counts, selected, program]);

  const edges: Edge[] = useMemo(() => {
    const out: Edge[] = [];
    const ids = new Set(nodes.map((n) => n.id));
    for (const n of nodes) {
      if (n.next && ids.has(n.next)) {
        const to = nodes.find((m) => m.id === n.next)!;
        const eid = `next:${n.id}`;
        out.push({
          id: eid,
          source: n.id,
          sourceHandle: "next",
          target: n.next,
          targetHandle: "in",
          label: `then ${whenLabel(to)}`,
          ariaLabel: `${stepTitle(n.id)} then ${stepTitle(n.next)} on ${whenLabel(to)}`,
          markerEnd: { type: MarkerType.ArrowClosed },
          className: "edge-next",
          selected: selectedEdges.has(eid),
        });
      }
      if (n.reply === "goto" && n.target && ids.has(n.target)) {
        const eid = `reply:${n.id}`;
        out.push({
          id: eid,
          source: n.id,
          sourceHandle: "reply",
          target: n.target,
          targetHandle: "in",
          label: "on reply",
          ariaLabel: `On a reply before ${stepTitle(n.id)}: go to ${stepTitle(n.target)}`,
          markerEnd: { type: MarkerType.ArrowClosed },
          className: "edge-reply",
          selected: selectedEdges.has(eid),
        });
      }
    }
    return out;
  }, [nodes, selectedEdges]);

  const change = (f: (d: Draft) => Draft) => {
    setNotice("");
    setDraft((d) => (d ? f(d) : d));
  };
  const patchNode = (nid: string, p: Partial<StepNode>) =>
    change((d) => ({ ...d, nodes: d.nodes.map((n) => (n.id === nid ? { ...n, ...p } : n)) }));
  const removeNodes = (gone: Set<string>) =>
    change((d) => ({
      ...d,
      nodes: d.nodes
        .filter((n) => !gone.has(n.id))
        .map((n) => ({
          ...n,
          next: gone.has(n.next) ? "" : n.next,
          ...(n.reply === "goto" && gone.has(n.target) ? { reply: "continue" as const, target: "" } : {}),
        })),
    }));

  const addStep = () => {
    if (!draft) return;
    const nid = freshID(draft.nodes);
    const below = draft.nodes.find((n) => n.id === selected) ?? draft.nodes[draft.nodes.length - 1];
    const x = below ? below.x : 40;
    const y = below ? below.y + nodeHeight + 30 : 40;
    const last = draft.nodes[draft.nodes.length - 1];
    const n = newNode(nid, x, y);
    n.day = below ? below.day : last?.day ?? 0;
    change((d) => ({ ...d, nodes: [...d.nodes, n] }));
    setSelected(nid);
    setNotice(`${stepTitle(nid)} added. Choose what leads to it: set it as the next step of another step, or drag from that step's “next” handle.`);
  };

  const onNodesChange = (chs: NodeChange<StepFlowNode>[]) => {
    setRfNodes((ns) => applyNodeChanges(chs, ns));
    const gone = new Set<string>();
    const moved = new Map<string, { x: number; y: number }>();
    for (const c of chs) {
      if (c.type === "remove") gone.add(c.id);
      if (c.type === "position" && c.position) moved.set(c.id, c.position);
      if (c.type === "select" && c.selected) setSelected(c.id);
      if (c.type === "select" && !c.selected) setSelected((s) => (s === c.id ? "" : s));
    }
    if (moved.size) {
        setDraft((d) => (d ? { ...d, nodes: d.nodes.map((n) => (moved.has(n.id) ? { ...n, ...moved.get(n.id)! } : n)) } : d));
    }
    if (gone.size) {
      removeNodes(gone);
      if (gone.has(selected)) setSelected("");
    }
  };

  const onEdgesChange = (chs: EdgeChange[]) => {
    const removed: string[] = [];
    setSelectedEdges((prev) => {
      const next = new Set(prev);
      for (const c of chs) {
        if (c.type === "select") {
          if (c.selected) next.add(c.id);
          else next.delete(c.id);
        }
        if (c.type === "remove") next.delete(c.id);
      }
      return next;
    });
    for (const c of chs) if (c.type === "remove") removed.push(c.id);
    if (!removed.length) return;
    change((d) => ({
      ...d,
      nodes: d.nodes.map((n) => {
        let m = n;
        if (removed.includes(`next:${n.id}`)) m = { ...m, next: "" };
        if (removed.includes(`reply:${n.id}`)) m = { ...m, reply: "continue", target: "" };
        return m;
      }),
    }));
  };

  const onConnect = (c: Connection) => {
    if (!c.source || !c.target) return;
    if (c.sourceHandle === "reply") patchNode(c.source, { reply: "goto", target: c.target });
    else patchNode(c.source, { next: c.target });
  };

  const save = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!draft || !canWrite) return;
    setError("");
    setNotice("");
    if (!draft.name.trim()) {
      setError("Give the program a name.");
      document.getElementById("program-name")?.focus();
      return;
    }
    setSaving(true);
    const a = await sendProgram<Program>(program ? "PATCH" : "POST", program ? `/api/v1/programs/${program.id}` : "/api/v1/programs", bodyOf(draft));
    setSaving(false);
    if (!a.ok || !a.body) {
      if (a.status === 422) setIssues(a.issues);
      setError(a.status === 422 ? `Not saved: ${a.message} Fix the steps marked on the canvas.` : `Not saved: ${a.message}`);
      return;
    }
    // Saved: no errors; the warnings the last check found still stand.
    setIssues((cur) => cur.filter((i) => i.severity === "warning"));
    setProgram(a.body);
    setDraft(draftOf(a.body));
    setNotice("Program saved.");
    if (!program) navigate(`/programs/${a.body.id}`, { replace: true });
  };

  const setStatus = async (action: "pause" | "resume" | "archive") => {
    if (!program) return;
    setError("");
    try {
      const path = { path: { id: program.id } };
      const p =
        action === "pause"
          ? await api("post", "/api/v1/programs/{id}/pause", path)
          : action === "resume"
            ? await api("post", "/api/v1/programs/{id}/resume", path)
            : await api("post", "/api/v1/programs/{id}/archive", path);
      setProgram(p);
      setNotice(action === "pause" ? "Program paused: no steps are sent until you resume it." : action === "resume" ? "Program resumed." : "Program archived.");
    } catch (err) {
      setError(errorText(err));
    }
  };

  if (loadError) {
    return (
      <Page title="Program">
        <div className="form-error" role="alert">
          <p>The program could not be loaded: {loadError}</p>
          <Link to="/programs">Back to the programs</Link>
        </div>
      </Page>
    );
  }
  if (!draft) {
    return (
      <p className="page-loading" role="status">
        Loading the program…
      </p>
    );
  }

  const sel = nodes.find((n) => n.id === selected);
  const archived = program?.status === "archived";
  const others = (nid: string) => nodes.filter((n) => n.id !== nid);

  return (
    <Page
      title={program ? `Program: ${program.name}` : "New program"}
      actions={
        <>
          {program && <StatusBadge status={program.status} />}
          {program && canWrite && program.status === "active" && (
            <button type="button" className="button secondary" onClick={() => setStatus("pause")}>
              Pause
            </button>
          )}
          {program && canWrite && program.status === "paused" && (
            <button type="button" className="button secondary" onClick={() => setStatus("resume")}>
              Resume
            </button>
          )}
          {program && canWrite && !archived && (
            <button
              type="button"
              className="button danger-outline"
              onClick={() =>
                setConfirm({
                  title: "Archive this program?",
                  message: "It stops for good: no more steps are sent, nobody can join, and it can no longer be edited.",
                  confirm: "Archive",
                  danger: true,
                  onConfirm: () => void setStatus("archive"),
                })
              }
            >
              Archive
            </button>
          )}
        </>
      }
    >
      <p>
        <Link to="/programs">← All programs</Link>
      </p>
      <form className="program-bar" onSubmit={save} aria-label="Program">
        <div className="field">
          <label htmlFor="program-name">Name</label>
          <input id="program-name" type="text" value={draft.name} maxLength={200} onChange={(e) => change((d) => ({ ...d, name: e.target.value }))} />
        </div>
        <div className="field">
          <label htmlFor="program-keyword">Enrolment keyword</label>
          <input
            id="program-keyword"
            type="text"
            value={draft.keyword}
            maxLength={64}
            aria-describedby="program-keyword-hint"
            onChange={(e) => change((d) => ({ ...d, keyword: e.target.value }))}
          />
          <p className="hint" id="program-keyword-hint">
            Someone who sends exactly this word joins while the program is active. Optional.
          </p>
        </div>
        <div className="program-save">
          {canWrite ? (
            <button type="submit" className="button primary" disabled={saving || archived}>
              {saving ? "Saving…" : program ? "Save changes" : "Create program"}
            </button>
          ) : (
            <p className="hint read-only-reason">Your role reads programs; building and changing them is for editors, admins and the owner.</p>
          )}
        </div>
      </form>
      <div className="program-check" role="status" aria-live="polite">
        {nodes.length === 0
          ? "Add a first step to begin."
          : checking
            ? "Checking…"
            : errorCount
              ? `${errorCount} problem(s) to fix before saving${warningCount ? `, ${warningCount} warning(s)` : ""}.`
              : warningCount
                ? `No problems; ${warningCount} warning(s).`
                : "No problems found."}
      </div>
      {programIssues.map((is, k) => (
        <p key={k} className="form-error">
          {is.message}
        </p>
      ))}
      {error && (
        <div className="form-error" role="alert" id="program-error">
          <p>{error}</p>
        </div>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {archived && <p className="notice">This program is archived: it can no longer be edited.</p>}

      <div className="program-builder">
        <div className="builder-canvas" role="region" aria-label="Program canvas">
          <ReactFlow<StepFlowNode>
            nodes={rfNodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            deleteKeyCode={["Backspace", "Delete"]}
            snapToGrid
            snapGrid={[10, 10]}
            fitView
            fitViewOptions={{ maxZoom: 1, padding: 0.2 }}
            minZoom={0.2}
            maxZoom={2}
            proOptions={{ hideAttribution: true }}
            onPaneClick={() => setSelected("")}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>

        <aside className="builder-panel" aria-labelledby="panel-title">
          <h2 id="panel-title">Steps</h2>
          <div className="panel-row">
            <div className="field">
              <label htmlFor="step-pick">Edit step</label>
              <select id="step-pick" value={selected} onChange={(e) => setSelected(e.target.value)}>
                <option value="">Choose a step…</option>
                {nodes.map((n, i) => (
                  <option key={n.id} value={n.id}>
                    {stepTitle(n.id)}
                    {i === 0 ? " (start)" : ""} — {whenLabel(n)}
                    {byNode.get(n.id)?.some((x) => x.severity === "error") ? " — has problems" : ""}
                  </option>
                ))}
              </select>
            </div>
            <button type="button" className="button secondary" onClick={addStep} disabled={archived}>
              Add step
            </button>
          </div>
          {!sel && <p className="hint">Select a step on the canvas or in the list to edit it. Drag from a step's bottom handle to the next step, from its right handle to where a reply leads.</p>}
          {sel && (
            <StepForm
              key={sel.id}
              step={sel}
              first={nodes[0]?.id === sel.id}
              others={others(sel.id)}
              issues={byNode.get(sel.id) ?? []}
              counts={program ? counts.get(sel.id) : undefined}
              onChange={(p) => patchNode(sel.id, p)}
              onMakeFirst={() => change((d) => ({ ...d, nodes: [sel, ...d.nodes.filter((n) => n.id !== sel.id)] }))}
              onDelete={() => {
                removeNodes(new Set([sel.id]));
                setSelected("");
                setNotice(`${stepTitle(sel.id)} deleted.`);
              }}
            />
          )}
          {program && (
            <div className="counts-bar">
              <button type="button" className="button secondary small" onClick={() => loadCounts(program)}>
                Refresh counts
              </button>
              <p className="hint" role="status">
                {countsNote}
              </p>
            </div>
          )}
        </aside>
      </div>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </Page>
  );
}

function StepForm({
  step,
  first,
  others,
  issues,
  counts,
  onChange,
  onMakeFirst,
  onDelete,
}: {
  step: StepNode;
  first: boolean;
  others: StepNode[];
  issues: Issue[];
  counts?: Counts;
  onChange: (p: Partial<StepNode>) => void;
  onMakeFirst: () => void;
  onDelete: () => void;
}) {
  const f = (name: string) => `step-${name}`;
  const issueOf = (field: string) => issues.filter((i) => i.field === field || i.field?.startsWith(field + "."));
  return (
    <div className="step-form" data-step-id={step.id}>
      <h3>
        {stepTitle(step.id)}
        {first ? " — start" : ""}
      </h3>
      {issues.length > 0 && (
        <ul className="step-issues" aria-label="Problems of this step">
          {issues.map((is, k) => (
            <li key={k} className={`step-issue step-issue-${is.severity}`} data-code={is.code}>
              {is.severity === "error" ? "Problem: " : "Warning: "}
              {is.message}
            </li>
          ))}
        </ul>
      )}
      {counts && (
        <p className="hint">
          Reached {counts.reached}, sent {counts.sent}, replied {counts.replied}, dropped {counts.dropped}.
        </p>
      )}
      <div className="field-pair">
        <div className="field">
          <label htmlFor={f("day")}>Day (after joining)</label>
          <input
            id={f("day")}
            type="number"
            min={0}
            max={3650}
            value={step.day}
            aria-invalid={issueOf("day").length > 0}
            onChange={(e) => onChange({ day: Math.max(0, Math.floor(Number(e.target.value) || 0)) })}
          />
        </div>
        <div className="field">
          <label htmlFor={f("at")}>At (their time, optional)</label>
          <input id={f("at")} type="time" value={step.at} onChange={(e) => onChange({ at: e.target.value })} />
        </div>
      </div>
      <div className="field">
        <label htmlFor={f("kind")}>Message</label>
        <select id={f("kind")} value={step.kind} onChange={(e) => onChange({ kind: e.target.value as StepNode["kind"] })}>
          <option value="text">Fixed text</option>
          <option value="ai">Written by the AI from a brief</option>
        </select>
      </div>
      {step.kind === "text" ? (
        <div className="field">
          <label htmlFor={f("text")}>Text</label>
          <textarea
            id={f("text")}
            rows={3}
            value={step.text}
            aria-invalid={issueOf("content.text").length > 0}
            aria-describedby={f("vars")}
            onChange={(e) => onChange({ text: e.target.value })}
          />
          <p className="hint" id={f("vars")}>
            Variables: {"{{first_name}}, {{name}}, {{coach_name}}, {{goal}}"}
          </p>
        </div>
      ) : (
        <>
          <div className="field">
            <label htmlFor={f("brief")}>Brief for the AI</label>
            <textarea id={f("brief")} rows={3} value={step.brief} onChange={(e) => onChange({ brief: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor={f("fallback")}>Fallback text (when no model can write)</label>
            <input id={f("fallback")} type="text" value={step.fallback} onChange={(e) => onChange({ fallback: e.target.value })} />
          </div>
        </>
      )}
      <fieldset className="step-fieldset">
        <legend>WhatsApp template (outside the 24-hour window)</legend>
        <div className="field-pair">
          <div className="field">
            <label htmlFor={f("tpl-name")}>Template name</label>
            <input id={f("tpl-name")} type="text" value={step.templateName} onChange={(e) => onChange({ templateName: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor={f("tpl-lang")}>Language</label>
            <input id={f("tpl-lang")} type="text" placeholder="en" value={step.templateLanguage} onChange={(e) => onChange({ templateLanguage: e.target.value })} />
          </div>
        </div>
        <div className="field">
          <label htmlFor={f("tpl-params")}>Parameters (comma-separated)</label>
          <input id={f("tpl-params")} type="text" value={step.templateParams} onChange={(e) => onChange({ templateParams: e.target.value })} />
        </div>
      </fieldset>
      <div className="field">
        <label htmlFor={f("next")}>Next step</label>
        <select id={f("next")} value={step.next} onChange={(e) => onChange({ next: e.target.value })}>
          <option value="">None — the program ends here</option>
          {others.map((n) => (
            <option key={n.id} value={n.id}>
              {stepTitle(n.id)} — {whenLabel(n)}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={f("reply")}>If they replied before this step is due</label>
        <select
          id={f("reply")}
          value={step.reply === "goto" ? "goto:" + step.target : step.reply}
          onChange={(e) => {
            const v = e.target.value;
            if (v.startsWith("goto:")) onChange({ reply: "goto", target: v.slice(5) });
            else onChange({ reply: v as StepNode["reply"], target: "" });
          }}
        >
          <option value="continue">Send this step anyway</option>
          <option value="pause">Pause their enrolment</option>
          {others.map((n) => (
            <option key={n.id} value={"goto:" + n.id}>
              Skip to {stepTitle(n.id)}
            </option>
          ))}
          {step.reply === "goto" && step.target === step.id && <option value={"goto:" + step.id}>Skip to this same step</option>}
        </select>
      </div>
      <div className="check">
        <input id={f("only")} type="checkbox" checked={step.onlyIfNoReply} onChange={(e) => onChange({ onlyIfNoReply: e.target.checked })} />
        <label htmlFor={f("only")}>Only send if they did not reply since the previous step</label>
      </div>
      <div className="step-form-actions">
        {!first && (
          <button type="button" className="button secondary small" onClick={onMakeFirst}>
            Make this the start
          </button>
        )}
        <button type="button" className="button danger-outline small" onClick={onDelete}>
          Delete step
        </button>
      </div>
    </div>
  );
}
