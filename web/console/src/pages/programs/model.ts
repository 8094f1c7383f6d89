// The program builder's model: the steps as the canvas edits them (nodes with a position, a
// "next" edge and an optional reply branch) and their conversion to and from the API's steps.
import { authorizedFetch, type Schemas } from "../../api/client";

export type Program = Schemas["Program"];
export type Step = Schemas["Step"];
export type Issue = Schemas["ProgramIssue"];
export type ProgramStatus = Program["status"];

export type Reply = "continue" | "pause" | "goto";

/** One step as the builder edits it. */
export interface StepNode {
  id: string;
  day: number;
  at: string;
  kind: "text" | "ai";
  text: string;
  brief: string;
  fallback: string;
  templateName: string;
  templateLanguage: string;
  templateParams: string;
  onlyIfNoReply: boolean;
  reply: Reply;
  /** The reply branch's target step id (reply === "goto"). */
  target: string;
  /** The step that follows after its delay ("" = the program ends here). */
  next: string;
  x: number;
  y: number;
}

export interface Draft {
  name: string;
  keyword: string;
  /** The first node is where enrolment starts. */
  nodes: StepNode[];
}

export const nodeHeight = 170;

export function newNode(id: string, x: number, y: number): StepNode {
  return {
    id,
    day: 0,
    at: "",
    kind: "text",
    text: "",
    brief: "",
    fallback: "",
    templateName: "",
    templateLanguage: "",
    templateParams: "",
    onlyIfNoReply: false,
    reply: "continue",
    target: "",
    next: "",
    x,
    y,
  };
}

/** An id no node has: s1, s2, … */
export function freshID(nodes: StepNode[]): string {
  const taken = new Set(nodes.map((n) => n.id));
  for (let i = nodes.length + 1; ; i++) if (!taken.has("s" + i)) return "s" + i;
}

/** The builder's nodes of a stored program (its steps are in run order, branches by index). */
export function draftOf(p: Program): Draft {
  const steps = p.steps;
  const nodes = steps.map((s, i): StepNode => {
    const id = s.id ?? "s" + (i + 1);
    const pos = p.layout?.[id];
    let reply: Reply = "continue",
      target = "";
    const or = s.on_reply ?? "continue";
    if (or === "pause") reply = "pause";
    else if (or.startsWith("goto:")) {
      reply = "goto";
      const t = or.slice(5);
      target = /^\d+$/.test(t) ? (steps[Number(t)]?.id ?? "s" + (Number(t) + 1)) : t;
    }
    return {
      id,
      day: s.day ?? 0,
      at: s.at ?? "",
      kind: s.content.kind,
      text: s.content.text ?? "",
      brief: s.content.brief ?? "",
      fallback: s.content.fallback ?? "",
      templateName: s.content.template?.name ?? "",
      templateLanguage: s.content.template?.language ?? "",
      templateParams: (s.content.template?.params ?? []).join(", "),
      onlyIfNoReply: s.only_if_no_reply ?? false,
      reply,
      target,
      next: s.next ?? (steps[i + 1]?.id ?? ""),
      x: pos?.x ?? 40 + (i % 2) * 60,
      y: pos?.y ?? 40 + i * nodeHeight,
    };
  });
  return { name: p.name, keyword: p.keyword ?? "", nodes };
}

/** The API body of a draft: every step with its id and next, branches by id, and the layout. */
export function bodyOf(d: Draft): Schemas["ProgramIn"] {
  const steps: Step[] = d.nodes.map((n) => {
    const content: Step["content"] =
      n.kind === "ai"
        ? { kind: "ai", brief: n.brief, ...(n.fallback ? { fallback: n.fallback } : {}) }
        : { kind: "text", text: n.text };
    if (n.templateName || n.templateLanguage) {
      const params = n.templateParams
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p);
      content.template = { name: n.templateName, language: n.templateLanguage, ...(params.length ? { params } : {}) };
    }
    const onReply = n.reply === "goto" ? "goto:" + n.target : n.reply;
    const s: Step = { id: n.id, next: n.next, day: n.day, content, on_reply: onReply, only_if_no_reply: n.onlyIfNoReply };
    if (n.at) s.at = n.at;
    return s;
  });
  const layout: Record<string, { x: number; y: number }> = {};
  for (const n of d.nodes) layout[n.id] = { x: Math.round(n.x), y: Math.round(n.y) };
  return { name: d.name, keyword: d.keyword || undefined, steps, layout };
}

/** What an API call for a program answered: the body, or the issues of a 422. */
export interface Answer<T> {
  ok: boolean;
  status: number;
  body?: T;
  issues: Issue[];
  message: string;
}

/** Sends a program body; a 422 carries the issues of its steps. */
export async function sendProgram<T>(method: string, url: string, body: unknown, signal?: AbortSignal): Promise<Answer<T>> {
  let res: Response;
  try {
    res = await authorizedFetch(url, { method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" }, signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    return { ok: false, status: 0, issues: [], message: "The server could not be reached. Check your connection and try again." };
  }
  let json: unknown = null;
  try {
    json = await res.json();
  } catch {
    // not JSON
  }
  if (res.ok) {
    const issues = ((json as { issues?: Issue[] } | null)?.issues ?? []) as Issue[];
    return { ok: true, status: res.status, body: json as T, issues, message: "" };
  }
  const err = (json as { error?: { message?: string; issues?: Issue[] } } | null)?.error;
  return { ok: false, status: res.status, issues: err?.issues ?? [], message: err?.message || `The request failed (HTTP ${res.status}).` };
}

/** The issues per node id (issues name the step by its index in the body sent). */
export function issuesByNode(nodes: StepNode[], issues: Issue[]): Map<string, Issue[]> {
  const m = new Map<string, Issue[]>();
  for (const is of issues) {
    const id = nodes[is.step]?.id;
    if (!id) continue;
    m.set(id, [...(m.get(id) ?? []), is]);
  }
  return m;
}

/** How a step's delay reads on its incoming edge: "day 3" or "day 1 at 09:00". */
export function whenLabel(n: StepNode): string {
  return `day ${n.day}` + (n.at ? ` at ${n.at}` : "");
}

/** The step's number in the builder (its place in the list, 1-based) and id. */
export function stepName(nodes: StepNode[], id: string): string {
  const i = nodes.findIndex((n) => n.id === id);
  return i < 0 ? id : `Step ${i + 1}`;
}

/** Per-step counts of the analytics funnel. */
export interface Counts {
  reached: number;
  sent: number;
  replied: number;
  dropped: number;
}
