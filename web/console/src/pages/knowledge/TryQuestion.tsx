import { useState, type FormEvent } from "react";
import { api, errorText, type Schemas } from "../../api/client";

type Result = Schemas["KnowledgeSearchResult"];

/**
 * "Try a question": the passages a coaching turn would be given for a question (the same
 * retrieval, POST /api/v1/knowledge/search), with their scores, and whether one answers it.
 */
export function TryQuestion() {
  const [question, setQuestion] = useState("");
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!question.trim()) {
      setError("Type a question an end user might ask.");
      document.getElementById("try-question")?.focus();
      return;
    }
    setBusy(true);
    setError("");
    try {
      setResult(await api("post", "/api/v1/knowledge/search", { body: { question: question.trim() } }));
    } catch (err) {
      setError(errorText(err));
      setResult(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="try-heading">
      <h2 id="try-heading">Try a question</h2>
      <p className="hint try-hint">See which passages your coach would read to answer it, and their scores. Nothing is sent to anyone.</p>
      <form className="try-form" onSubmit={submit} noValidate>
        <div className="field try-field">
          <label htmlFor="try-question">Question</label>
          <input
            id="try-question"
            type="search"
            maxLength={1000}
            value={question}
            onChange={(e) => setQuestion(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "try-error" : undefined}
          />
        </div>
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Searching…" : "Search"}
        </button>
      </form>
      {error && (
        <p className="field-error" id="try-error" role="alert">
          {error}
        </p>
      )}
      <div aria-live="polite">
        {result && (
          <div className="try-result">
            <p className={result.found ? "notice" : "form-error"}>
              {result.found
                ? `A passage answers this question (${result.search_mode === "hybrid" ? "hybrid" : "keyword"} search).`
                : result.passages.length
                  ? "No passage covers this question well enough: the coach would say it found nothing. Add a document that answers it."
                  : "No passage matches this question. Add a document that answers it."}
            </p>
            {result.passages.length > 0 && (
              <ol className="passages">
                {result.passages.map((p, i) => (
                  <li key={i} className={p.answers ? "passage passage-answers" : "passage"}>
                    <div className="passage-head">
                      <span className="passage-source">
                        {p.title || "Untitled document"}
                        {p.section && <span className="doc-sub">{p.section + (p.page ? `, page ${p.page}` : "")}</span>}
                      </span>
                      <span className="passage-score">
                        Score {p.score.toFixed(3)} · covers {Math.round(p.coverage * 100)}%{p.answers ? " · answers" : ""}
                      </span>
                    </div>
                    <p className="passage-text">{p.text.length > 600 ? p.text.slice(0, 597) + "…" : p.text}</p>
                  </li>
                ))}
              </ol>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
