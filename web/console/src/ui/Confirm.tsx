import { useEffect, useRef } from "react";

export interface ConfirmRequest {
  title: string;
  message: string;
  confirm: string;
  danger?: boolean;
  onConfirm: () => void;
}

/** A modal confirmation on the native <dialog>: focus is trapped, Escape cancels. */
export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (request && !d.open) {
      d.showModal();
      cancel.current?.focus();
    } else if (!request && d.open) d.close();
  }, [request]);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="confirm-title" aria-describedby="confirm-message" onClose={onClose}>
      {request && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            request.onConfirm();
            onClose();
          }}
        >
          <h2 id="confirm-title">{request.title}</h2>
          <p id="confirm-message">{request.message}</p>
          <div className="dialog-actions">
            <button ref={cancel} type="button" className="button secondary" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className={request.danger ? "button danger" : "button primary"}>
              {request.confirm}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
