/**
 * Saves a blob the API answered (an export, a CSV) as a download named name: through a
 * temporary link (in the document, which Firefox needs), its object URL released once the
 * download has started.
 */
export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
