// File uploads with progress: fetch cannot report upload progress, XMLHttpRequest can.
import { ApiError, errorOf, type Document } from "../../api/client";
import { session } from "../../api/session";

export interface UploadHandle {
  done: Promise<Document>;
  abort: () => void;
}

/**
 * Sends file as multipart/form-data (field "file") to POST /api/v1/documents, or PUT
 * /api/v1/documents/{id} to replace that document. onProgress gets the fraction of bytes sent.
 * A 401 refreshes the session and sends once more.
 */
export function uploadFile(file: File, onProgress: (sent: number, total: number) => void, replaceID?: string): UploadHandle {
  let xhr: XMLHttpRequest | null = null;
  let aborted = false;
  const url = replaceID ? `/api/v1/documents/${encodeURIComponent(replaceID)}` : "/api/v1/documents";
  const method = replaceID ? "PUT" : "POST";

  const send = (token: string | null) =>
    new Promise<{ status: number; response: Response }>((resolve, reject) => {
      const x = new XMLHttpRequest();
      xhr = x;
      x.open(method, url);
      if (token) x.setRequestHeader("Authorization", "Bearer " + token);
      x.responseType = "text";
      x.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded, e.total);
      };
      x.onload = () => {
        const headers = new Headers();
        const ra = x.getResponseHeader("Retry-After");
        if (ra) headers.set("Retry-After", ra);
        headers.set("Content-Type", x.getResponseHeader("Content-Type") ?? "");
        resolve({ status: x.status, response: new Response(x.status === 204 ? null : x.responseText, { status: x.status, headers }) });
      };
      x.onerror = () => reject(new ApiError(0, "network", "network error"));
      x.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
      const form = new FormData();
      form.append("file", file, file.name);
      x.send(form);
    });

  const done = (async () => {
    const token = await session.accessToken();
    if (aborted) throw new ApiError(0, "aborted", "Upload cancelled.");
    let r = await send(token);
    if (r.status === 401 && token) {
      const fresh = await session.refreshAfter(token);
      if (aborted) throw new ApiError(0, "aborted", "Upload cancelled.");
      if (fresh) r = await send(fresh);
    }
    if (r.status < 200 || r.status > 299) throw await errorOf(r.response);
    return (await r.response.json()) as Document;
  })();

  return {
    done,
    abort: () => {
      aborted = true;
      (xhr as XMLHttpRequest | null)?.abort();
    },
  };
}
