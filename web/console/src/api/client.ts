// A small typed wrapper over fetch for the coachwire REST API. Paths, parameters, bodies and
// answers are typed from schema.d.ts, which build.mjs generates from the gateway's OpenAPI
// document, so the console and the API cannot drift apart unnoticed.
import type { components, paths } from "./schema";
import { ApiError, errorOf } from "./errors";
import { session } from "./session";

export { ApiError, errorOf, errorText } from "./errors";

export type Schemas = components["schemas"];

/** Dispatched on window when the API answers 403. */
export const forbiddenEvent = "coachwire:forbidden";
export type Document = Schemas["Document"];
export type DocumentStatus = Document["status"];
export type DocumentFormat = Document["format"];

type Method = "get" | "post" | "put" | "patch" | "delete";
type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never;
}[keyof paths];
type Op<P extends keyof paths, M extends Method> = paths[P][M] extends infer O ? (O extends { responses: unknown } ? O : never) : never;

type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : R extends { content?: never } ? undefined : never;
type Success<O> = O extends { responses: infer R }
  ? { [S in keyof R]: S extends 200 | 201 | 202 | 204 ? JsonOf<R[S]> : never }[keyof R]
  : never;
type JsonBody<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? B
  : O extends { requestBody?: { content: { "application/json": infer B } } }
    ? B
    : never;
type Params<O> = O extends { parameters: infer P } ? P : Record<string, never>;
type PathParams<O> = Params<O> extends { path: infer X } ? ([X] extends [never | undefined] ? never : X) : never;
type QueryParams<O> = Params<O> extends { query?: infer X } ? X : never;

export interface CallOptions<O> {
  path?: PathParams<O>;
  query?: QueryParams<O>;
  body?: JsonBody<O>;
  signal?: AbortSignal;
  /** false: send no access token (the sign-in routes). */
  auth?: boolean;
}

/** Builds "/api/v1/documents/{id}" with its path parameters and query string. */
export function buildURL(template: string, pathParams?: unknown, query?: unknown): string {
  let url = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = (pathParams as Record<string, unknown> | undefined)?.[name];
    if (v === undefined || v === null) throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(v));
  });
  if (query && typeof query === "object") {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query as Record<string, unknown>)) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
    const s = qs.toString();
    if (s) url += "?" + s;
  }
  return url;
}

/**
 * fetch with the session's access token; a 401 refreshes the session once and retries. Used by
 * api() and by the event stream.
 */
export async function authorizedFetch(url: string, init: RequestInit = {}, auth = true): Promise<Response> {
  const send = async (token: string | null) => {
    const headers = new Headers(init.headers);
    if (token) headers.set("Authorization", "Bearer " + token);
    try {
      return await fetch(url, { ...init, headers, credentials: "same-origin" });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new ApiError(0, "network", "network error");
    }
  };
  if (!auth) return send(null);
  const token = await session.accessToken();
  let res = await send(token);
  if (res.status === 401 && token) {
    const fresh = await session.refreshAfter(token);
    if (fresh) res = await send(fresh);
  }
  return res;
}

/** Calls one API operation: api("get", "/api/v1/documents", {query: {status: "failed"}}). */
export async function api<M extends Method, P extends PathsWith<M>>(
  method: M,
  path: P,
  opts: CallOptions<Op<P, M>> = {},
): Promise<Success<Op<P, M>>> {
  const init: RequestInit = { method: method.toUpperCase(), signal: opts.signal };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers = { "Content-Type": "application/json" };
  }
  const res = await authorizedFetch(buildURL(path, opts.path, opts.query), init, opts.auth !== false);
  // A 403: the role may have changed since the console last asked (api/perms.ts asks again).
  if (res.status === 403) window.dispatchEvent(new Event(forbiddenEvent));
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as Success<Op<P, M>>;
  return (await res.json()) as Success<Op<P, M>>;
}
