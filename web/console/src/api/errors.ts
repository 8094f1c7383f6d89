// Errors of the API as the console shows them.

/** An error answer of the API ({"error": {"code", "message"}}), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfter?: number;
  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** What to tell a person about an error: the API's own message, or what to do about the network. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return "The server could not be reached. Check your connection and try again.";
    if (e.status === 503) return `${e.message || "A service is unavailable"}. Try again in a few seconds.`;
    if (e.status === 429) return `${e.message || "Too many requests"}. Wait a moment and try again.`;
    if (e.status === 403) return `Not allowed: ${e.message || "your role may not do this"}.`.replace(/\.\.$/, ".");
    return e.message || `The request failed (HTTP ${e.status}).`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Reads an error answer into an ApiError. */
export async function errorOf(res: Response): Promise<ApiError> {
  let code = "http_" + res.status,
    message = "";
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? "";
  } catch {
    // not JSON: keep the status
  }
  const ra = Number(res.headers.get("Retry-After"));
  return new ApiError(res.status, code, message || res.statusText, Number.isFinite(ra) && ra > 0 ? ra : undefined);
}

